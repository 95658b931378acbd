import CLibPQ
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One thread that waits, with epoll, for the server's replies on all of a pool's connections, and
/// resumes the task that waits for each.
///
/// A statement sent from a task's own thread and awaited here costs one shared wake-up when the
/// reply arrives, where handing the statement to the connection's thread costs two thread switches
/// per statement. Under many writers one wake-up often serves several replies, the way pgbench
/// polls its sockets. The reactor never touches a connection: the task that holds the lease reads
/// the reply itself once resumed.
final class ReplyReactor: Sendable {
    private struct State {
        /// Who waits for each socket to become readable.
        var waiters: [Int32: CheckedContinuation<Void, Error>] = [:]
        var isShutdown = false
    }

    private let epoll: Int32
    /// An eventfd that wakes the thread to stop.
    private let wakeup: Int32
    private let state = Mutex(State())
    private static let wakeupToken = UInt64.max

    init() throws {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw Self.systemError("cannot create an epoll instance") }
        wakeup = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeup >= 0 else {
            Glibc.close(epoll)
            throw Self.systemError("cannot create an eventfd")
        }
        guard waymark_epoll_control(epoll, EPOLL_CTL_ADD, wakeup, 1, Self.wakeupToken) == 0 else {
            let error = Self.systemError("cannot watch the reactor's eventfd")
            Glibc.close(wakeup)
            Glibc.close(epoll)
            throw error
        }
        let thread = Thread { [self] in loop() }
        thread.name = "waymark-pg-replies"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Adds a connection's socket, not yet watched; `awaitReadable` arms it.
    func register(_ socket: Int32) throws {
        guard waymark_epoll_control(epoll, EPOLL_CTL_ADD, socket, 0, UInt64(UInt32(bitPattern: socket))) == 0 else {
            throw Self.systemError("cannot watch a connection's socket")
        }
    }

    /// Removes a socket before its connection closes it (a later connection may reuse the number).
    func unregister(_ socket: Int32) {
        _ = waymark_epoll_control(epoll, EPOLL_CTL_DEL, socket, 0, 0)
        let waiter = state.withLock { $0.waiters.removeValue(forKey: socket) }
        waiter?.resume(throwing: PostgresError(code: PostgresError.closed, message: "the connection was closed while a reply was awaited"))
    }

    /// Suspends until `socket` has something to read (or was closed by the server).
    func awaitReadable(_ socket: Int32) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let stopped = state.withLock { state -> Bool in
                if state.isShutdown { return true }
                state.waiters[socket] = continuation
                return false
            }
            if stopped {
                continuation.resume(throwing: PostgresError(code: PostgresError.closed, message: "the connection pool is closed"))
                return
            }
            // Armed after the waiter is in place: a reply already there fires at once.
            if waymark_epoll_control(epoll, EPOLL_CTL_MOD, socket, 1, UInt64(UInt32(bitPattern: socket))) != 0 {
                let error = Self.systemError("cannot watch a connection's socket")
                state.withLock { $0.waiters.removeValue(forKey: socket) }?.resume(throwing: error)
            }
        }
    }

    /// Stops the thread; tasks still waiting are told the pool closed.
    func shutdown() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Error>] in
            if state.isShutdown { return [] }
            state.isShutdown = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        var one: UInt64 = 1
        _ = write(wakeup, &one, MemoryLayout<UInt64>.size)
        for waiter in waiters {
            waiter.resume(throwing: PostgresError(code: PostgresError.closed, message: "the connection pool is closed"))
        }
    }

    private func loop() {
        var tokens = [UInt64](repeating: 0, count: 64)
        var ready: [CheckedContinuation<Void, Error>] = []
        ready.reserveCapacity(64)
        while true {
            let count = tokens.withUnsafeMutableBufferPointer { waymark_epoll_wait(epoll, $0.baseAddress, Int32($0.count), -1) }
            if count < 0 {
                if errno == EINTR { continue }
                break
            }
            var stop = false
            state.withLock { state in
                for token in tokens[0..<Int(count)] {
                    if token == Self.wakeupToken {
                        stop = true
                    } else if let waiter = state.waiters.removeValue(forKey: Int32(bitPattern: UInt32(truncatingIfNeeded: token))) {
                        ready.append(waiter)
                    }
                }
            }
            for waiter in ready { waiter.resume() }
            ready.removeAll(keepingCapacity: true)
            if stop { break }
        }
    }

    deinit {
        // Only once the thread has stopped (it holds the reactor until then), so no call can meet
        // a descriptor number that was closed and reused.
        Glibc.close(wakeup)
        Glibc.close(epoll)
    }

    private static func systemError(_ what: String) -> PostgresError {
        PostgresError(code: PostgresError.connectionFailure, message: "\(what): \(String(cString: strerror(errno)))")
    }
}
