// A plain OS thread and a bounded blocking queue, for CPU-bound pipelines outside Swift concurrency (`apitap stitch`
// reads and stitches on one thread while the caller's thread encodes and writes). Blocking here never ties up the
// cooperative pool, which on a one-core machine has a single thread.
import Glibc

/// A thread running `body` once; `join()` waits for it to end.
public final class OSThread: @unchecked Sendable {
    private var thread = pthread_t()
    private var joined = false

    /// Starts `body` on a new thread; nil when the system refuses one (the caller then runs the work itself).
    public init?(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let status = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            return nil
        }
    }

    /// Starts `body` on a thread nobody waits for; false when the system refuses one.
    public static func detached(_ body: @escaping @Sendable () -> Void) -> Bool {
        guard let thread = OSThread(body) else { return false }
        thread.joined = true
        pthread_detach(thread.thread)
        return true
    }

    /// Waits for the thread to end (once; later calls return at once).
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    deinit { join() }
}

/// A first-in first-out queue of at most `capacity` elements between threads: `put` waits while it is full, `take`
/// while it is empty, and answers nil once it is closed and drained.
public final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>
    /// A ring of `capacity` slots: `count` elements from `head`.
    private var slots: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        slots = Array(repeating: nil, count: self.capacity)
        mutex = .allocate(capacity: 1)
        changed = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    /// Adds `element`, waiting for room. After `close()` the element is dropped and false returned.
    @discardableResult
    public func put(_ element: Element) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !closed && count == capacity { pthread_cond_wait(changed, mutex) }
        guard !closed else { return false }
        slots[(head + count) % capacity] = element
        count += 1
        pthread_cond_broadcast(changed)
        return true
    }

    /// The oldest element, waiting for one; nil when the queue is closed and empty.
    public func take() -> Element? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while count == 0 && !closed { pthread_cond_wait(changed, mutex) }
        guard count > 0, let element = slots[head].take() else { return nil }
        head = (head + 1) % capacity
        count -= 1
        pthread_cond_broadcast(changed)
        return element
    }

    /// No more elements: waiting `take`s drain what is left, then answer nil.
    public func close() {
        pthread_mutex_lock(mutex)
        closed = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }
}
