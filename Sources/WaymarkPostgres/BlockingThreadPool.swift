import Foundation

/// A fixed set of dedicated OS threads for blocking libpq calls.
///
/// libpq's calls block the calling thread for a network round trip. Running them on Swift's
/// cooperative pool would starve every other task on a 2-core machine, so each pool of connections
/// owns one of these, sized to its connection count: a leased connection always finds a free thread.
public final class BlockingThreadPool: @unchecked Sendable {
    // @unchecked Sendable: `jobs` and `isShutdown` are read and written only while `condition` is held.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var isShutdown = false
    public let size: Int

    public init(size: Int, name: String) {
        precondition(size > 0, "a thread pool needs at least one thread")
        self.size = size
        for index in 0..<size {
            let thread = Thread { [self] in self.workerLoop() }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func workerLoop() {
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

    /// Queues `job` without waiting for it; false when the pool was shut down.
    func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        submit(job)
    }

    private func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if isShutdown { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// Runs `work` on one of the pool's threads and resumes the caller with its result.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = submit {
                continuation.resume(with: Result { try work() })
            }
            if !accepted {
                continuation.resume(throwing: PostgresError(code: PostgresError.closed, message: "the blocking thread pool has been shut down"))
            }
        }
    }

    /// Lets the threads finish queued work and exit.
    public func shutdown() {
        condition.lock()
        isShutdown = true
        condition.broadcast()
        condition.unlock()
    }
}
