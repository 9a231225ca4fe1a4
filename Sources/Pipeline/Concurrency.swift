// Bounded fan-out: the tick polls log groups and the UAP sink posts batches a few at a time.
import Core

/// Runs `work` on every item with at most `limit` running at once, starting the next as each ends; `collect` gets
/// each result in the order they finish.
public func forEachConcurrently<Item: Sendable, Output: Sendable>(
    _ items: [Item], limit: Int, _ work: @escaping @Sendable (Item) async -> Output, collect: (Output) -> Void
) async {
    var index = 0
    await withTaskGroup(of: Output.self) { group in
        while index < items.count && index < max(1, limit) {
            let item = items[index]
            group.addTask { await work(item) }
            index += 1
        }
        for await output in group {
            collect(output)
            if index < items.count {
                let item = items[index]
                group.addTask { await work(item) }
                index += 1
            }
        }
    }
}
