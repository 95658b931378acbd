import Foundation
import WaymarkPostgres

/// A unit of work on the event store: appends, reads and SQL beside them (read models, side
/// tables) that commit together or not at all. `EventStore.transaction` hands one to its body, and
/// subscription handlers receive one with the batch's checkpoint handled for them.
///
/// Appends follow the same expected-version and idempotency rules as autocommit appends, and wake
/// subscribers once the transaction commits. The body may run more than once: when an append is
/// refused because the transaction is older than the stream's last writer (the order rule, see
/// `append_events`), or the server reports a serialization failure or deadlock, the whole
/// transaction rolls back and runs again. Keep effects outside the database for `afterCommit`.
public struct Transaction: Sendable {
    public let store: EventStore
    let connection: PostgresConnection

    init(store: EventStore, connection: PostgresConnection) {
        self.store = store
        self.connection = connection
    }

    /// Appends `events` to `stream` in this transaction; see `EventStore.append(to:expected:events:)`.
    /// Throws `EventStoreError` `retryTransaction` when the stream's last event was written by a
    /// newer transaction; `EventStore.transaction` and subscription batches then run again.
    @discardableResult
    public func append(to stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        try await store.append(on: connection, to: stream, expected: expected, events: events)
    }

    /// The stream's version as this transaction sees it.
    public func streamVersion(_ stream: String) async throws -> Int64 {
        try await store.streamVersion(on: connection, stream, learn: false)
    }

    /// The versions of `streams` as this transaction sees them (0 for a stream with no events), in
    /// one round trip: what a worker that appends to many streams in one transaction checks first.
    public func streamVersions(_ streams: [String]) async throws -> [String: Int64] {
        for stream in streams { try EventStore.validateStreamName(stream) }
        let rows = try await query(
            PostgresQuery(
                sql: "SELECT s.name, \(EventStore.currentVersion(of: "s.name")) FROM unnest($1::text[]) AS s(name)",
                binds: [PostgresArray(streams)]))
        var versions: [String: Int64] = [:]
        for row in rows {
            let (stream, version) = try row.decode(String.self, Int64.self)
            versions[stream] = version
        }
        return versions
    }

    /// Reads a page of `stream` as this transaction sees it (its own appends included).
    public func readStream(_ stream: String, from version: Int64? = nil, direction: ReadDirection = .forward, limit: Int = 500) async throws -> StreamSlice {
        try await store.readStream(on: connection, stream, from: version, direction: direction, limit: limit, learn: false)
    }

    /// The stored event with id `id` as this transaction sees it (its own appends included); see
    /// `EventStore.event(withId:)`.
    public func event(withId id: UUID) async throws -> RecordedEvent? {
        try await store.event(on: connection, withId: id)
    }

    /// Reads the global log after `position`; see `EventStore.readAll`.
    public func readAll(after position: GlobalPosition = .start, limit: Int = 1000) async throws -> GlobalSlice {
        try await store.readAll(on: connection, after: position, limit: limit)
    }

    /// Reads a category after `position`; see `EventStore.readCategory`.
    public func readCategory(_ category: String, after position: GlobalPosition = .start, limit: Int = 1000) async throws -> GlobalSlice {
        try await store.readCategory(on: connection, category, after: position, limit: limit)
    }

    /// Runs one statement in this transaction and returns its rows: read models, side tables,
    /// anything that must commit with the events. Interpolated values are binds.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await EventStore.surfacingStoreErrors { try await connection.query(query) }
    }

    /// Runs one statement in this transaction and returns the number of rows it touched.
    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await EventStore.surfacingStoreErrors { try await connection.execute(query) }
    }

    /// Streams `rows` into a `COPY … FROM STDIN` (text format) in this transaction: the set-based
    /// way to load a batch into a staging table.
    @discardableResult
    public func copyIn(_ copyStatement: String, rows: [[String?]]) async throws -> Int {
        try await connection.copyIn(copyStatement, rows: rows)
    }

    /// Sends `rows` to a `COPY … FROM STDIN (FORMAT binary)` in this transaction.
    @discardableResult
    public func copyIn(_ copyStatement: String, _ rows: CopyBinary) async throws -> Int {
        try await connection.copyIn(copyStatement, rows)
    }

    /// Runs `hook` once this transaction has committed; never if it rolls back or runs again.
    public func afterCommit(_ hook: @escaping @Sendable () -> Void) {
        connection.afterCommit(hook)
    }
}

extension EventStore {
    /// Runs one statement in a transaction of its own and returns its rows; see `Transaction.query`.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await Self.surfacingStoreErrors { try await pool.query(query) }
    }

    /// Runs `body`, turning the server's refusal to change an event (SQLSTATE WM004) into the
    /// store's typed error.
    static func surfacingStoreErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresError where error.code == StoreSQLState.eventsImmutable {
            throw EventStoreError(.immutable, error.message)
        }
    }

    /// How many times `transaction` runs its body when it keeps failing in a retryable way.
    public static let defaultTransactionAttempts = 20

    /// Runs `body` in one transaction and commits it; rolls back when `body` throws. When the
    /// failure is retryable (`EventStore.isRetryable`: the order rule, a serialization failure, a
    /// deadlock), the transaction runs again after a short random pause (growing with the
    /// attempts, at most 50 ms), up to `maxAttempts` times in all, so `body` must be safe to run
    /// again: keep effects outside the database for `Transaction.afterCommit`.
    public func transaction<T: Sendable>(
        isolation: PostgresIsolation = .readCommitted, maxAttempts: Int = EventStore.defaultTransactionAttempts,
        _ body: (Transaction) async throws -> T
    ) async throws -> T {
        try await withSession { session in try await session.transaction(isolation: isolation, maxAttempts: maxAttempts, body) }
    }
}
