import Foundation
import Logging
import Synchronization

/// A bounded pool of connections with their own blocking threads.
///
/// Callers lease a connection with `withConnection` or `withTransaction`; when all connections are
/// busy they wait in FIFO order. A connection that comes back broken, or still inside a
/// transaction, is closed and replaced on demand.
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let maxConnections: Int
    let threads: BlockingThreadPool
    let logger: Logger
    private let state: Mutex<State>

    private enum Grant {
        case connection(PostgresConnection)
        case openNew
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Grant, Error>)] = []
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    public init(configuration: PostgresConfiguration, maxConnections: Int = 8, logger: Logger = Logger(label: "waymark.postgres")) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.maxConnections = maxConnections
        self.threads = BlockingThreadPool(size: maxConnections, name: "waymark-pg")
        self.logger = logger
        self.state = Mutex(State())
    }

    /// Leases a connection for the duration of `body`.
    @discardableResult
    public func withConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        do {
            let value = try await body(connection)
            release(connection)
            return value
        } catch {
            release(connection)
            throw error
        }
    }

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
        try await withConnection { try await $0.query(query) }
    }

    /// Opens a connection outside the pool's accounting, on the pool's threads. The caller owns it.
    public func openDedicatedConnection() async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration, threads: threads)
    }

    private func lease() async throws -> PostgresConnection {
        enum Decision {
            case use(PostgresConnection)
            case open
            case wait
            case closed
        }
        while true {
            let decision: Decision = state.withLock { state in
                if state.closed { return .closed }
                if let connection = state.idle.popLast() { return .use(connection) }
                if state.open < maxConnections {
                    state.open += 1
                    return .open
                }
                return .wait
            }
            var grant: Grant
            switch decision {
            case .closed:
                throw PostgresError(code: PostgresError.closed, message: "the connection pool is closed")
            case .use(let connection):
                grant = .connection(connection)
            case .open:
                grant = .openNew
            case .wait:
                grant = try await withCheckedThrowingContinuation { continuation in
                    let closed = state.withLock { state -> Bool in
                        if state.closed { return true }
                        state.nextWaiter += 1
                        state.waiters.append((state.nextWaiter, continuation))
                        return false
                    }
                    if closed {
                        continuation.resume(throwing: PostgresError(code: PostgresError.closed, message: "the connection pool is closed"))
                    }
                }
            }
            switch grant {
            case .connection(let connection):
                if connection.isHealthy { return connection }
                await connection.close()
                if let next = dropSlot() { next.resume(returning: .openNew) }
                continue
            case .openNew:
                do {
                    return try await PostgresConnection.connect(configuration, threads: threads)
                } catch {
                    // Give the slot back; a waiter, if any, tries its own connect and sees its own error.
                    if let next = dropSlot() { next.resume(returning: .openNew) }
                    throw error
                }
            }
        }
    }

    /// Frees one open slot; returns a waiter that may now open a connection in its place.
    private func dropSlot() -> CheckedContinuation<Grant, Error>? {
        state.withLock { state in
            if !state.waiters.isEmpty {
                return state.waiters.removeFirst().continuation  // the slot passes to the waiter
            }
            state.open -= 1
            return nil
        }
    }

    private func release(_ connection: PostgresConnection) {
        guard connection.isHealthy, connection.isIdle else {
            logger.debug("discarding a pooled connection that came back broken or inside a transaction")
            Task { await connection.close() }
            if let next = dropSlot() { next.resume(returning: .openNew) }
            return
        }
        let waiter: CheckedContinuation<Grant, Error>? = state.withLock { state in
            if state.closed {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.idle.append(connection)
            return nil
        }
        if let waiter {
            waiter.resume(returning: .connection(connection))
        } else if state.withLock({ $0.closed }) {
            Task { await connection.close() }
        }
    }

    /// Closes idle connections, fails waiters, and refuses new leases. Leased connections close
    /// when they come back.
    public func close() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            let idle = state.idle
            state.open -= idle.count
            state.idle = []
            let waiters = state.waiters
            state.waiters = []
            return (idle, waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError(code: PostgresError.closed, message: "the connection pool is closed"))
        }
        for connection in idle { await connection.close() }
        let threads = self.threads
        // Let in-flight closes finish on the threads before they exit.
        _ = try? await threads.run {}
        threads.shutdown()
    }
}
