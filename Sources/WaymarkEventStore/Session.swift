import Foundation
import WaymarkPostgres

/// One connection held for a series of store operations, for code that does many in a row: an
/// ingest loop, a command handler working through a queue, a tool. The session's code runs on
/// the connection's own thread, so its statements go straight to libpq with no hand-over between
/// threads (see `ConnectionThread`); `EventStore.append` and the other one-off calls lease a
/// connection per call and pay that hand-over each time.
///
/// Appends are autocommit, with the same rules as `EventStore.append`; `transaction` groups
/// several operations.
public struct Session: Sendable {
    public let store: EventStore
    let connection: PostgresConnection

    /// Appends `events` to `stream` in a transaction of its own; see `EventStore.append`.
    @discardableResult
    public func append(to stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        try await store.append(on: connection, to: stream, expected: expected, events: events)
    }

    /// The stream's version; see `EventStore.streamVersion`.
    public func streamVersion(_ stream: String) async throws -> Int64 {
        try await store.streamVersion(on: connection, stream, learn: true)
    }

    /// Reads a page of `stream`; see `EventStore.readStream`.
    public func readStream(_ stream: String, from version: Int64? = nil, direction: ReadDirection = .forward, limit: Int = 500) async throws -> StreamSlice {
        try await store.readStream(on: connection, stream, from: version, direction: direction, limit: limit, learn: true)
    }

    /// Reads the global log after `position`; see `EventStore.readAll`.
    public func readAll(after position: GlobalPosition = .start, limit: Int = 1000) async throws -> GlobalSlice {
        try await store.readAll(on: connection, after: position, limit: limit)
    }

    /// Reads a category after `position`; see `EventStore.readCategory`.
    public func readCategory(_ category: String, after position: GlobalPosition = .start, limit: Int = 1000) async throws -> GlobalSlice {
        try await store.readCategory(on: connection, category, after: position, limit: limit)
    }

    /// The stored event with id `id`; see `EventStore.event(withId:)`.
    public func event(withId id: UUID) async throws -> RecordedEvent? {
        try await store.event(on: connection, withId: id)
    }

    /// Runs one statement in a transaction of its own; see `EventStore.query`.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await EventStore.surfacingStoreErrors { try await connection.query(query) }
    }

    /// Runs `body` in one transaction on this session's connection; see `EventStore.transaction`.
    public func transaction<T: Sendable>(
        isolation: PostgresIsolation = .readCommitted, maxAttempts: Int = EventStore.defaultTransactionAttempts,
        _ body: (Transaction) async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await connection.transaction(isolation: isolation) { connection in
                    try await body(Transaction(store: store, connection: connection))
                }
            } catch  where EventStore.isRetryable(error) && attempt < max(1, maxAttempts) {
                attempt += 1
                store.logger.debug("transaction retried", metadata: ["waymark.attempt": "\(attempt)", "waymark.error": "\(error)"])
                // Writers that keep refusing each other take turns: a short random pause, growing
                // with the attempts (at most 50 ms), spreads them out. On the store's clock, so a
                // test clock holds it until the test moves time on.
                try await store.clock.sleep(for: .microseconds(Int.random(in: 1...min(50_000, 500 << min(attempt, 7)))))
            }
        }
    }
}

extension EventStore {
    /// Holds one connection for `body`'s series of operations; see `Session`.
    public func withSession<T>(_ body: (Session) async throws -> T) async throws -> T {
        try await pool.withConnection { connection in try await body(Session(store: self, connection: connection)) }
    }
}
