// The requests a stitcher has already emitted, remembered for a while: a late line for one of them is absorbed,
// never the start of a second transaction. Shared by the REST and the Flex Gateway stitchers.

/// Remembered keys, oldest first. Evicted by age (relative to the newest event seen) and by count; a mark/roll-back
/// pair undoes everything since the mark in O(entries since), so a sink's failed delivery can be replayed exactly.
struct Tombstones<Key: Hashable & Sendable>: Sendable {
    private var keys: Set<Key> = []
    private var queue: [(key: Key, at: Int64)] = []
    private var head = 0
    /// While a mark is open the queue is not compacted, so `rollBack` can find what was evicted.
    private var markOpen = false

    struct Mark: Sendable {
        fileprivate let count: Int
        fileprivate let head: Int
    }

    func contains(_ key: Key) -> Bool { keys.contains(key) }
    /// Keys remembered now.
    var count: Int { keys.count }
    /// Entries in the queue not yet evicted (a key removed early still has its entry until then).
    var queued: Int { queue.count - head }

    /// Remembers `key` as emitted at `timestamp` (a key already remembered keeps its first time).
    mutating func insert(_ key: Key, at timestamp: Int64) {
        if keys.insert(key).inserted { queue.append((key, timestamp)) }
    }

    /// Forgets `key` at once (a request that opens again under the same id).
    mutating func remove(_ key: Key) { keys.remove(key) }

    /// Forgets what is older than `retentionMs` before `newest`, and the oldest beyond `maxCount`.
    mutating func evict(newest: Int64, retentionMs: Int64, maxCount: Int) {
        let cutoff = newest &- retentionMs
        while head < queue.count {
            let entry = queue[head]
            guard entry.at < cutoff || queue.count - head > maxCount else { break }
            keys.remove(entry.key)
            head += 1
        }
        if !markOpen, head > 1024, head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    /// The keys still remembered, oldest first, with their times (what a checkpoint saves).
    var remembered: [(key: Key, at: Int64)] {
        queue[head...].filter { keys.contains($0.key) }
    }

    mutating func mark() -> Mark {
        markOpen = true
        return Mark(count: queue.count, head: head)
    }

    /// Keeps what was remembered since the mark.
    mutating func commit() { markOpen = false }

    /// As at the mark: keys remembered since are forgotten, keys evicted since that were remembered before it come
    /// back (a key evicted and remembered again is handled by the order of the two steps).
    mutating func rollBack(to mark: Mark) {
        for entry in queue[max(mark.count, head)...] { keys.remove(entry.key) }
        for entry in queue[mark.head..<min(head, mark.count)] { keys.insert(entry.key) }
        queue.removeSubrange(mark.count...)
        head = mark.head
        markOpen = false
    }
}
