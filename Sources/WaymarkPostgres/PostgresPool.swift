import Foundation
import Logging
import Metrics
import Synchronization

/// A bounded pool of connections, each with a thread of its own for libpq's blocking calls.
///
/// Callers lease a connection with `withConnection` or `withTransaction`; when all connections are
/// busy they wait in FIFO order, and a cancelled task stops waiting with `PostgresError.cancelled`.
/// A connection that comes back broken, still inside a transaction, or after a cancelled statement
/// is closed and replaced on demand. `close()` refuses new leases, waits for leased connections to
/// come back and closes every connection; nothing the pool starts outlives it.
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let maxConnections: Int
    let logger: Logger
    private let state: Mutex<State>
    private let metrics: PoolMetrics
    /// Awaits the replies to statements of `.brief` leases; started with the first connection.
    private let reactor = Mutex<ReplyReactor?>(nil)

    /// Where a lease runs its body.
    public enum LeaseStyle: Sendable {
        /// On the connection's own thread, where statements block it inline: no hand-over between
        /// threads per statement. Best for several statements (a transaction, a session).
        case session
        /// Where the caller runs; each statement is sent from there and its reply awaited with the
        /// pool's other connections on one shared thread (`ReplyReactor`). Best for one or two
        /// statements while other leases are out: it saves the two thread switches into and out of
        /// a `.session` lease (at 16 writers, client CPU per append fell from about 41 to 24 µs).
        case brief
    }

    private enum Grant {
        case connection(PostgresConnection)
        case openNew
    }

    private struct State {
        var idle: [PostgresConnection] = []
        /// Connections open or being opened, leased or idle.
        var open = 0
        var leased = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Grant, Error>)] = []
        var nextWaiter: UInt64 = 0
        var closed = false
        /// Who waits in `close()` for the last connection to close.
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    /// - Parameter label: names the pool in its metrics (`waymark_pool_…{pool=label}`).
    public init(configuration: PostgresConfiguration, maxConnections: Int = 8, label: String = "waymark", logger: Logger) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.logger = logger
        self.state = Mutex(State())
        self.metrics = PoolMetrics(label: label)
    }

    /// How many leases wait for a connection now (for status pages and tests).
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Leases a connection for the duration of `body`. In a `.session` lease (the default) the
    /// task runs `body` on the connection's thread (a task executor preference), so its statements
    /// need no hand-over between threads; see `LeaseStyle`.
    @discardableResult
    public func withConnection<T>(_ style: LeaseStyle = .session, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        do {
            let value: T
            switch style == .brief && isOnlyLease ? .session : style {
            case .session: value = try await withTaskExecutorPreference(connection.executor) { try await body(connection) }
            case .brief: value = try await body(connection)
            }
            release(connection)
            return value
        } catch {
            release(connection)
            throw error
        }
    }

    /// Whether no other lease is out. A `.brief` lease then runs as a `.session`: with no other
    /// replies to share the reactor's wake-up with, waking the caller's thread from the reactor
    /// costs more than the hand-over to the connection's thread and back (measured with `waymark
    /// bench append`: about 48–57 against 39–45 µs of client CPU per append at one writer).
    private var isOnlyLease: Bool { state.withLock { $0.leased == 1 } }

    /// Leases a connection and runs `body` in a transaction on it.
    @discardableResult
    public func withTransaction<T>(
        isolation: PostgresIsolation = .readCommitted,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.transaction(isolation: isolation, body)
        }
    }

    /// Shortcut: one statement on a leased connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection(.brief) { try await $0.query(query) }
    }

    /// Opens a connection outside the pool's accounting. The caller owns it and closes it.
    public func openDedicatedConnection() async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration)
    }

    private func lease() async throws -> PostgresConnection {
        enum Decision {
            case use(PostgresConnection)
            case open
            case wait(UInt64)
            case closed
        }
        let waitStarted = ContinuousClock.now
        defer { metrics.waits.record(duration: ContinuousClock.now - waitStarted) }
        while true {
            if Task.isCancelled { throw Self.cancelledWaiting }
            let decision: Decision = state.withLock { state in
                if state.closed { return .closed }
                if let connection = state.idle.popLast() {
                    state.leased += 1
                    return .use(connection)
                }
                if state.open < maxConnections {
                    state.open += 1
                    state.leased += 1
                    return .open
                }
                state.nextWaiter += 1
                return .wait(state.nextWaiter)
            }
            var grant: Grant
            switch decision {
            case .closed:
                throw Self.closedError
            case .use(let connection):
                grant = .connection(connection)
            case .open:
                grant = .openNew
            case .wait(let id):
                grant = try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { continuation in
                        let refusal: PostgresError? = state.withLock { state in
                            if state.closed { return Self.closedError }
                            if Task.isCancelled { return Self.cancelledWaiting }
                            state.waiters.append((id, continuation))
                            return nil
                        }
                        if let refusal { continuation.resume(throwing: refusal) }
                    }
                } onCancel: {
                    let waiter = state.withLock { state -> CheckedContinuation<Grant, Error>? in
                        guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                        return state.waiters.remove(at: index).continuation
                    }
                    waiter?.resume(throwing: Self.cancelledWaiting)
                }
            }
            metrics.inUse.record(state.withLock { $0.leased })
            switch grant {
            case .connection(let connection):
                if connection.isHealthy { return connection }
                await connection.close()
                slotFreed()
                continue
            case .openNew:
                do {
                    return try await PostgresConnection.connect(configuration, reactor: try startedReactor())
                } catch {
                    // Give the slot back; a waiter, if any, tries its own connect and sees its own error.
                    slotFreed()
                    throw error
                }
            }
        }
    }

    private func startedReactor() throws -> ReplyReactor {
        try reactor.withLock { reactor in
            if let reactor { return reactor }
            let started = try ReplyReactor()
            reactor = started
            return started
        }
    }

    deinit {
        reactor.withLock { $0?.shutdown() }
    }

    private static let closedError = PostgresError(code: PostgresError.closed, message: "the connection pool is closed")
    private static let cancelledWaiting = PostgresError.cancellation("while waiting for a pooled connection")

    /// A leased slot's connection is gone (closed or never opened): a waiter may open one in its
    /// place, or the slot is freed.
    private func slotFreed() {
        let (waiter, drained) = state.withLock { state -> (CheckedContinuation<Grant, Error>?, [CheckedContinuation<Void, Never>]) in
            if !state.closed, !state.waiters.isEmpty {
                return (state.waiters.removeFirst().continuation, [])  // the slot passes to the waiter
            }
            state.open -= 1
            state.leased -= 1
            if state.closed && state.open == 0 {
                defer { state.drained = [] }
                return (nil, state.drained)
            }
            return (nil, [])
        }
        waiter?.resume(returning: .openNew)
        for continuation in drained { continuation.resume() }
    }

    private func release(_ connection: PostgresConnection) {
        guard connection.isHealthy, connection.isIdle, !connection.wasCancelled else {
            logger.debug("discarding a pooled connection that came back broken, inside a transaction or after a cancel")
            closeOnThreads(connection)
            return
        }
        let waiter: CheckedContinuation<Grant, Error>? = state.withLock { state in
            if state.closed { return nil }
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.leased -= 1
            state.idle.append(connection)
            return nil
        }
        if let waiter {
            waiter.resume(returning: .connection(connection))
        } else if state.withLock({ $0.closed }) {
            closeOnThreads(connection)
        }
        metrics.inUse.record(state.withLock { $0.leased })
    }

    /// Closes a leased connection on its own thread, then frees its slot.
    private func closeOnThreads(_ connection: PostgresConnection) {
        connection.closeInBackground { [self] in slotFreed() }
    }

    /// Refuses new leases and fails waiters, closes idle connections, waits up to `drainTimeout` for
    /// leased ones to come back (they close as they do).
    public func close(drainTimeout: Duration = .seconds(30)) async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            let idle = state.idle
            state.idle = []
            let waiters = state.waiters
            state.waiters = []
            return (idle, waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }
        for connection in idle {
            await connection.close()
            state.withLock { state in
                state.open -= 1
            }
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.state.withLock { state -> Bool in
                        if state.open <= 0 { return true }
                        state.drained.append(continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: drainTimeout) }
            await group.next()
            group.cancelAll()
            // Whoever still waits for the drain (after the timeout) is let go.
            for continuation in self.state.withLock({ state -> [CheckedContinuation<Void, Never>] in
                defer { state.drained = [] }
                return state.drained
            }) {
                continuation.resume()
            }
        }
        if state.withLock({ $0.open }) > 0 {
            logger.warning("closing the pool with connections still leased", metadata: ["waymark.pool.leased": "\(state.withLock { $0.open })"])
        }
        reactor.withLock { $0?.shutdown() }
    }
}

/// The pool's metrics: how long leases waited, and how many connections are leased.
struct PoolMetrics: Sendable {
    let waits: Timer
    let inUse: Gauge

    init(label: String) {
        waits = Timer(label: "waymark_pool_wait_seconds", dimensions: [("pool", label)])
        inUse = Gauge(label: "waymark_pool_connections_in_use", dimensions: [("pool", label)])
    }
}
