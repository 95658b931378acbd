import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The one OS thread that runs a connection's blocking libpq calls, and, as a `TaskExecutor`, the
/// async code of a task that prefers it while it holds the connection.
///
/// libpq's calls block their thread for a network round trip, so they never run on Swift's
/// cooperative pool. Handing each call to another thread and back costs two thread wake-ups, about
/// as much CPU as the call itself on a small machine. While a task leases a connection, the pool
/// therefore runs the task's code on the connection's thread (`withTaskExecutorPreference`): its
/// statements then run inline, and the hops happen once per lease, not once per statement.
public final class ConnectionThread: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs`, `head`, `isShutdown` and `thread` are read and written only
    // while `condition` is held.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var isShutdown = false
    private var thread: pthread_t?

    public init(name: String) {
        let started = Thread { [self] in
            condition.lock()
            thread = pthread_self()
            condition.broadcast()
            condition.unlock()
            loop()
        }
        started.name = name
        started.stackSize = 1 << 20
        started.start()
        condition.lock()
        while thread == nil { condition.wait() }
        condition.unlock()
    }

    /// Whether the calling code runs on this thread.
    public var isCurrent: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    private func loop() {
        while true {
            condition.lock()
            while head == jobs.count && !isShutdown { condition.wait() }
            if head == jobs.count && isShutdown {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head > 64 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }

    /// Queues `job`; false when the thread was shut down.
    @discardableResult
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if isShutdown { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let accepted = submit { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }
        if !accepted {
            // A task still prefers this executor after its connection closed: run the job on a
            // thread of its own rather than lose it.
            Thread.detachNewThread { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }

    /// Runs `work` on this thread: inline when already on it, else by handing it over and resuming
    /// the caller with its result.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        if isCurrent { return try work() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = submit { continuation.resume(with: Result { try work() }) }
            if !accepted {
                continuation.resume(throwing: PostgresError(code: PostgresError.closed, message: "the connection's thread has stopped"))
            }
        }
    }

    /// Lets the thread finish queued work and exit.
    func shutdown() {
        condition.lock()
        isShutdown = true
        condition.broadcast()
        condition.unlock()
    }
}
