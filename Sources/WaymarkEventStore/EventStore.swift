import Foundation
import Logging
import Synchronization
import WaymarkPostgres

/// The PostgreSQL event store: appends with optimistic concurrency and idempotency, reads of
/// streams, categories and the global log, and the wake-ups that keep subscriptions live.
public final class EventStore: Sendable {
    public let pool: PostgresPool
    public let schema: String
    let logger: Logger
    /// Bumped after every append this process commits; wakes in-process subscriptions at once.
    public let appended = ChangeSignal()
    /// The channel on which appends are announced to other processes (coalesced, outside the append).
    public let notificationChannel: String
    private let notifier: Mutex<NotifierState>
    private let announceInterval: Duration

    private struct NotifierState {
        var running = false
        var pending = false
    }

    /// Limits on a single append.
    public static let maxBatchSize = 10_000
    public static let maxNameLength = 200

    /// - Parameters:
    ///   - pool: connections whose `search_path` starts with `schema`.
    ///   - announceInterval: appends are announced on `notificationChannel` at most this often,
    ///     from a separate short transaction, never inside the append.
    public init(pool: PostgresPool, schema: String, logger: Logger = Logger(label: "waymark.eventstore"), announceInterval: Duration = .milliseconds(20)) throws {
        guard PostgresIdentifier.isPlain(schema) else {
            throw EventStoreError(.invalidInput, "schema name '\(schema)' is not a plain identifier (lower-case letters, digits and _)")
        }
        guard pool.configuration.searchPath?.first == schema else {
            throw EventStoreError(.invalidInput, "the pool's search_path must start with the event store schema '\(schema)'")
        }
        self.pool = pool
        self.schema = schema
        self.logger = logger
        self.notificationChannel = String("waymark_events_\(schema)".prefix(63))
        self.notifier = Mutex(NotifierState())
        self.announceInterval = announceInterval
    }

    /// Opens a pool on `url` with `schema` as its search path.
    public static func connect(
        url: String, schema: String = "waymark", maxConnections: Int = 10, logger: Logger = Logger(label: "waymark.eventstore"),
        announceInterval: Duration = .milliseconds(20)
    ) throws -> EventStore {
        guard PostgresIdentifier.isPlain(schema) else {
            throw EventStoreError(.invalidInput, "schema name '\(schema)' is not a plain identifier (lower-case letters, digits and _)")
        }
        let pool = PostgresPool(configuration: PostgresConfiguration(url: url, searchPath: [schema]), maxConnections: maxConnections, logger: logger)
        return try EventStore(pool: pool, schema: schema, logger: logger, announceInterval: announceInterval)
    }

    /// The stream name's prefix before the first `-`.
    public static func category(of streamName: String) -> String {
        if let dash = streamName.firstIndex(of: "-") { return String(streamName[..<dash]) }
        return streamName
    }

    // MARK: Validation

    static func validateName(_ name: String, what: String) throws {
        if name.isEmpty { throw EventStoreError(.invalidInput, "\(what) must not be empty") }
        var length = 0
        for scalar in name.unicodeScalars {
            length += 1
            // ASCII names (the common case) need no Unicode property lookup.
            let forbidden = scalar.isASCII ? (scalar.value <= 0x20 || scalar.value == 0x7f) : scalar.properties.isWhitespace || (0x80...0x9f).contains(scalar.value)
            if forbidden { throw EventStoreError(.invalidInput, "\(what) '\(name)' must not contain whitespace or control characters") }
        }
        if length > maxNameLength { throw EventStoreError(.invalidInput, "\(what) '\(name.prefix(40))…' is longer than \(maxNameLength) characters") }
    }

    static func validateStreamName(_ name: String) throws {
        try validateName(name, what: "stream name")
        if name.hasPrefix("-") { throw EventStoreError(.invalidInput, "stream name '\(name)' must not start with '-' (its category would be empty)") }
    }

    static func validateCategory(_ name: String) throws {
        try validateName(name, what: "category")
        if name.contains("-") { throw EventStoreError(.invalidInput, "category '\(name)' must not contain '-': a category is the stream-name prefix before the first '-'") }
    }

    private func validate(stream: String, events: [EventData], expected: ExpectedVersion) throws {
        try Self.validateStreamName(stream)
        if events.isEmpty { throw EventStoreError(.invalidInput, "an append to stream \(stream) needs at least one event") }
        if events.count > Self.maxBatchSize { throw EventStoreError(.invalidInput, "an append holds at most \(Self.maxBatchSize) events; this one has \(events.count)") }
        if case .exact(let version) = expected, version < 0 {
            throw EventStoreError(.invalidInput, "expected version \(version) is negative; versions count events from 0 (no stream)")
        }
        var ids = Set<UUID>(minimumCapacity: events.count > 1 ? events.count : 0)
        for (index, event) in events.enumerated() {
            try Self.validateName(event.type, what: "event type (event \(index + 1) of the batch)")
            if event.data.isEmpty { throw EventStoreError(.invalidEventData, "event \(event.id) (\(event.type)) has empty data; send JSON such as {}") }
            if event.data.utf8.contains(0) {
                throw EventStoreError(.invalidEventData, "event \(event.id) (\(event.type)) data contains a NUL character; JSON text cannot hold one")
            }
            if events.count > 1 && !ids.insert(event.id).inserted {
                throw EventStoreError(.invalidInput, "the batch for stream \(stream) repeats event id \(event.id)")
            }
            for key in event.metadata.extra.keys where key.isEmpty {
                throw EventStoreError(.invalidInput, "event \(event.id) has an empty metadata key")
            }
        }
    }

    // MARK: Append

    /// Appends `events` to `stream` atomically.
    ///
    /// Throws `WrongExpectedVersionError` when `expected` does not hold, `EventStoreError` for bad
    /// input or an idempotency conflict; in every such case nothing is stored. Re-appending a batch
    /// that was stored (same event ids, same stream, same order) returns the original positions with
    /// `replayed == true` and writes nothing.
    @discardableResult
    public func append(to stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        let result = try await pool.withConnection { connection in
            try await self.append(on: connection, to: stream, expected: expected, events: events)
        }
        if !result.replayed { announceAppend() }
        return result
    }

    /// Appends inside a transaction the caller runs on `connection` (for example a subscriber that
    /// emits events together with its checkpoint). Wake-ups are the caller's to send once it commits:
    /// call `announceAppend()`.
    public func append(on connection: PostgresConnection, to stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        try validate(stream: stream, events: events, expected: expected)
        // Built only when needed: a one-event append on the fast path sends scalars instead.
        func batchBinds() -> [any PostgresEncodable] {
            [
                stream, expected.sqlKind, expected.sqlVersion,
                PostgresArray(events.map { $0.id.uuidString }),
                PostgresArray(events.map(\.type)),
                PostgresArray(events.map(\.data)),
                PostgresArray(events.map { $0.metadata.json }),
            ]
        }
        do {
            // Outside a transaction: one INSERT that checks the expected version against the
            // stream's current one. It inserts nothing when the check fails, and fails on a unique
            // index when a concurrent writer took the versions or the ids were stored before; either
            // way the append function then sorts out conflict, retry or race. Inside the caller's
            // transaction a unique violation would abort that transaction, so the function (which
            // catches it in a subtransaction) runs directly.
            if connection.isIdle {
                do {
                    let rows: PostgresRows
                    if events.count == 1 {
                        let only = events[0]
                        rows = try await connection.query(
                            Self.fastAppendOne, [stream, expected.sqlKind, expected.sqlVersion, only.id, only.type, only.data, only.metadata.json])
                    } else {
                        rows = try await connection.query(Self.fastAppend, batchBinds())
                    }
                    if rows.count == events.count {
                        return try Self.fastAppendResult(stream, events, rows)
                    }
                } catch let error as PostgresError where error.code == "23505" {
                    // Fall through to the function.
                }
            }
            let rows = try await connection.query(
                "SELECT event_id, stream_version, tx_id, global_id, replayed FROM append_events($1, $2, $3, $4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[])",
                batchBinds())
            return try Self.appendResult(stream, rows, replayed: rows.count > 0 ? try rows[0].decode(Bool.self, at: 4) : false)
        } catch let error as PostgresError {
            throw translate(error, stream: stream, expected: expected, events: events)
        }
    }

    /// Stream $1's version: its last event's, found by one backward step on the unique
    /// (stream_name, stream_version) index whatever the stream's length. (`max()` is not used: the
    /// planner may aggregate over all of the stream's entries when it expects short streams.)
    static let currentVersion = """
        coalesce((SELECT stream_version FROM events WHERE stream_name = $1 ORDER BY stream_version DESC LIMIT 1), 0)
        """

    /// The expected-version check of both fast paths: `c.version` is the stream's current version,
    /// $2 the kind of expectation and $3 the exact version.
    static let expectedVersionHolds = """
        CASE $2::text
            WHEN 'any' THEN true
            WHEN 'no_stream' THEN c.version = 0
            WHEN 'exists' THEN c.version > 0
            ELSE c.version = $3::int8
        END
        """

    /// The fast path of a one-event append, with scalar binds.
    static let fastAppendOne = """
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT $1, c.version + 1, $4::uuid, $5, $6::jsonb, $7::jsonb
        FROM (SELECT \(currentVersion) AS version) AS c
        WHERE \(expectedVersionHolds)
        RETURNING stream_version, tx_id, global_id
        """

    /// The fast path of an append: the version check and the insert in one statement.
    static let fastAppend = """
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT $1, c.version + u.ord, u.id, u.t, u.d, u.m
        FROM (SELECT \(currentVersion) AS version) AS c,
             unnest($4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[]) WITH ORDINALITY AS u(id, t, d, m, ord)
        WHERE \(expectedVersionHolds)
        RETURNING stream_version, tx_id, global_id
        """

    /// The fast path inserted the batch in order at consecutive versions: pair its rows with the ids.
    private static func fastAppendResult(_ stream: String, _ events: [EventData], _ rows: PostgresRows) throws -> AppendResult {
        var positions: [(version: Int64, position: GlobalPosition)] = []
        positions.reserveCapacity(rows.count)
        for row in rows {
            let (version, transactionId, sequence) = try row.decode(Int64.self, UInt64.self, Int64.self)
            positions.append((version, GlobalPosition(transactionId: transactionId, sequence: sequence)))
        }
        positions.sort { $0.version < $1.version }
        let appended = zip(events, positions).map { AppendedEvent(id: $0.id, streamVersion: $1.version, position: $1.position) }
        return AppendResult(streamName: stream, events: appended, replayed: false)
    }

    private static func appendResult(_ stream: String, _ rows: PostgresRows, replayed: Bool) throws -> AppendResult {
        var appended: [AppendedEvent] = []
        appended.reserveCapacity(rows.count)
        for row in rows {
            let (id, version, transactionId, sequence) = try row.decode(UUID.self, Int64.self, UInt64.self, Int64.self)
            appended.append(AppendedEvent(id: id, streamVersion: version, position: GlobalPosition(transactionId: transactionId, sequence: sequence)))
        }
        appended.sort { $0.streamVersion < $1.streamVersion }
        return AppendResult(streamName: stream, events: appended, replayed: replayed)
    }

    private func translate(_ error: PostgresError, stream: String, expected: ExpectedVersion, events: [EventData]) -> Error {
        switch error.code {
        case "WM001":
            return WrongExpectedVersionError(streamName: stream, expected: expected, actualVersion: Int64(error.detail ?? "") ?? 0)
        case "WM002":
            return EventStoreError(.idempotencyConflict, error.message)
        case "WM003", "23514":
            return EventStoreError(.invalidInput, error.message)
        case "22P02", "22P05", "22025", "22021":
            // Invalid JSON (or text PostgreSQL cannot store): find the event to name it.
            for event in events where (try? JSONSerialization.jsonObject(with: Data(event.data.utf8), options: [.fragmentsAllowed])) == nil {
                return EventStoreError(.invalidEventData, "event \(event.id) (\(event.type)) for stream \(stream) does not hold valid JSON data: \(error.message)")
            }
            let which = events.count == 1 ? "event \(events[0].id) (\(events[0].type))" : "the batch"
            return EventStoreError(
                .invalidEventData,
                "\(which) for stream \(stream) holds JSON that cannot be stored as jsonb: \(error.message)\(error.detail.map { " (\($0))" } ?? "")")
        default:
            return error
        }
    }

    /// Wakes in-process subscriptions now and announces the append to other processes soon, on a
    /// separate connection, at most once per `announceInterval` however many appends happen.
    public func announceAppend() {
        appended.bump()
        let start = notifier.withLock { state -> Bool in
            if state.running {
                state.pending = true
                return false
            }
            state.running = true
            return true
        }
        guard start else { return }
        Task { [self] in
            while true {
                do {
                    // A NOTIFY transaction takes an XID; it only wakes readers, so it need not wait
                    // for its commit record to reach disk. One round trip, no bind values.
                    try await pool.withConnection { connection in
                        try await connection.runScript(
                            "BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY \(PostgresIdentifier.quote(notificationChannel)); COMMIT;")
                    }
                } catch {
                    logger.debug("could not announce appends", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: announceInterval)
                let again = notifier.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.running = false
                    return false
                }
                if !again { return }
            }
        }
    }

    // MARK: Reads

    static let eventColumns = """
        event_id, stream_name, stream_version, tx_id, global_id, event_type, data, \
        metadata->>'correlation_id', metadata->>'causation_id', metadata->>'actor', metadata->>'source_system', \
        metadata->'extra', (extract(epoch FROM recorded_at) * 1000000)::int8
        """

    static func decodeEvents(_ rows: PostgresRows) throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        events.reserveCapacity(rows.count)
        for row in rows {
            let (id, stream, version, transactionId, sequence, type, data, correlation, causation, actor, source, extra, micros) = try row.decode(
                UUID.self, String.self, Int64.self, UInt64.self, Int64.self, String.self, String.self,
                String?.self, String?.self, String?.self, String?.self, String?.self, Int64.self)
            var extraValues: [String: String] = [:]
            if let extra, let object = try? JSONSerialization.jsonObject(with: Data(extra.utf8)) as? [String: Any] {
                for (key, value) in object { extraValues[key] = value as? String ?? "\(value)" }
            }
            events.append(
                RecordedEvent(
                    id: id, streamName: stream, streamVersion: version,
                    position: GlobalPosition(transactionId: transactionId, sequence: sequence),
                    type: type, data: data,
                    metadata: EventMetadata(correlationId: correlation, causationId: causation, actor: actor, sourceSystem: source, extra: extraValues),
                    recordedAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000)))
        }
        return events
    }

    private static func checkLimit(_ limit: Int) throws {
        guard (1...10_000).contains(limit) else { throw EventStoreError(.invalidInput, "a read's limit must be between 1 and 10000, not \(limit)") }
    }

    /// The stream's version: the number of events in it, 0 when it does not exist.
    public func streamVersion(_ stream: String) async throws -> Int64 {
        try Self.validateStreamName(stream)
        return try await pool.query("SELECT \(Self.currentVersion)", [stream])[0].decode(Int64.self, at: 0)
    }

    /// Reads a page of `stream`. Forward reads start at `version` (default: the first event);
    /// backward reads start at `version` (default: the last event) and go down.
    public func readStream(_ stream: String, from version: Int64? = nil, direction: ReadDirection = .forward, limit: Int = 500) async throws -> StreamSlice {
        try Self.validateStreamName(stream)
        try Self.checkLimit(limit)
        let rows: PostgresRows
        switch direction {
        case .forward:
            rows = try await pool.query(
                "SELECT \(Self.eventColumns) FROM events WHERE stream_name = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3",
                [stream, max(version ?? 1, 1), limit])
        case .backward:
            rows = try await pool.query(
                "SELECT \(Self.eventColumns) FROM events WHERE stream_name = $1 AND stream_version <= $2 ORDER BY stream_version DESC LIMIT $3",
                [stream, version ?? Int64.max, limit])
        }
        let events = try Self.decodeEvents(rows)
        var next: Int64?
        if events.count == limit, let last = events.last {
            next = direction == .forward ? last.streamVersion + 1 : (last.streamVersion > 1 ? last.streamVersion - 1 : nil)
        }
        return StreamSlice(streamName: stream, events: events, nextVersion: next)
    }

    /// Reads the global log after `position`, oldest first.
    public func readAll(after position: GlobalPosition = .start, limit: Int = 1000) async throws -> GlobalSlice {
        try await pool.withConnection { try await self.readAll(on: $0, after: position, limit: limit) }
    }

    /// Reads the events of streams in `category` after `position`, in global order.
    public func readCategory(_ category: String, after position: GlobalPosition = .start, limit: Int = 1000) async throws -> GlobalSlice {
        try await pool.withConnection { try await self.readCategory(on: $0, category, after: position, limit: limit) }
    }

    /// `readAll` on a connection the caller holds (inside its transaction, say).
    public func readAll(on connection: PostgresConnection, after position: GlobalPosition, limit: Int) async throws -> GlobalSlice {
        try Self.checkLimit(limit)
        let rows = try await connection.query(
            """
            SELECT \(Self.eventColumns) FROM events
            WHERE (tx_id, global_id) > ($1::xid8, $2) AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY tx_id, global_id LIMIT $3
            """,
            [position.transactionId, position.sequence, limit])
        return try Self.slice(rows, after: position, limit: limit)
    }

    /// `readCategory` on a connection the caller holds.
    public func readCategory(on connection: PostgresConnection, _ category: String, after position: GlobalPosition, limit: Int) async throws -> GlobalSlice {
        try Self.validateCategory(category)
        try Self.checkLimit(limit)
        let rows = try await connection.query(
            """
            SELECT \(Self.eventColumns) FROM events
            WHERE category = $1 AND (category, tx_id, global_id) > ($1, $2::xid8, $3)
              AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY category, tx_id, global_id LIMIT $4
            """,
            [category, position.transactionId, position.sequence, limit])
        return try Self.slice(rows, after: position, limit: limit)
    }

    private static func slice(_ rows: PostgresRows, after position: GlobalPosition, limit: Int) throws -> GlobalSlice {
        let events = try decodeEvents(rows)
        return GlobalSlice(events: events, nextPosition: events.last?.position ?? position, isEnd: events.count < limit)
    }

    /// Closes the pool.
    public func close() async {
        await pool.close()
    }
}
