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
    /// Versions this process has seen streams reach; lets appends skip the version look-up.
    let versions: StreamVersionCache

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
    ///   - knownStreamVersions: how many streams' versions to remember (0: none). An append to a
    ///     stream whose version this process saw (by appending to it or reading it) skips the look-up
    ///     of that version; see `fastAppend` and `StreamVersionCache`.
    public init(
        pool: PostgresPool, schema: String, logger: Logger = Logger(label: "waymark.eventstore"), announceInterval: Duration = .milliseconds(20),
        knownStreamVersions: Int = 100_000
    ) throws {
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
        self.versions = StreamVersionCache(capacity: max(0, knownStreamVersions))
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

    static func validateName(_ name: String, what describe: @autoclosure () -> String) throws {
        // The common case, printable ASCII within the limit, needs one pass over the bytes and no
        // description.
        if !name.isEmpty, name.utf8.count <= maxNameLength, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) { return }
        let what = describe()
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
            if event.data.containsNUL {
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
        try await pool.withConnection { connection in
            try await self.append(on: connection, to: stream, expected: expected, events: events)
        }
    }

    /// Appends inside a transaction the caller runs on `connection` (for example a subscriber that
    /// emits events together with its checkpoint), or on its own when the connection is idle.
    /// Subscribers are woken once the caller's transaction commits when it runs under
    /// `PostgresConnection.transaction` (or `PostgresPool.withTransaction`); after a transaction begun
    /// by hand, call `announceAppend()` after the commit.
    @discardableResult
    public func append(on connection: PostgresConnection, to stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        try validate(stream: stream, events: events, expected: expected)
        do {
            // Outside a transaction, one INSERT does the append (see `fastAppend`). Inside the
            // caller's transaction a unique violation would abort that transaction, so the function,
            // which catches it in a subtransaction, runs directly.
            let autocommit = connection.isIdle
            if autocommit, let result = try await fastAppend(on: connection, to: stream, expected: expected, events: events) {
                announceAppend()
                return result
            }
            let rows = try await connection.query(
                """
                SELECT event_id, stream_version, tx_id, global_id, replayed, \(Self.eventsTableOID)
                FROM append_events($1, $2, $3, $4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[])
                """,
                [stream, expected.sqlKind, expected.sqlVersion] + Self.arrayBinds(events))
            let result = try Self.appendResult(stream, rows, replayed: rows.count > 0 ? try rows[0].decode(Bool.self, at: 4) : false)
            if autocommit {
                // Committed: the versions it returns are the stream's from now on.
                try await learn(stream, version: result.streamVersion, tableOID: rows[0].decode(Int64.self, at: 5), on: connection)
                if !result.replayed { announceAppend() }
            } else if !result.replayed {
                connection.afterCommit { [self] in announceAppend() }
            }
            return result
        } catch let error as PostgresError {
            throw translate(error, stream: stream, expected: expected, events: events)
        }
    }

    /// The one-statement append on an idle connection (autocommit), or nil when it stored nothing
    /// and `append_events` must sort out a conflict, a retry or a race.
    ///
    /// When the stream's version before the append is known, the INSERT writes the versions after
    /// it directly; otherwise it first looks the version up on the (stream, version) index and
    /// checks the expectation. Either way the unique indexes refuse versions or ids that another
    /// writer took (SQLSTATE 23505). The version is known for `.noStream` (0), and from a bound this
    /// process learned (`StreamVersionCache`, whose origin the statement has the server confirm):
    /// `.exact(n)` when the bound is at least n, `.any` and `.streamExists` by taking the bound as the
    /// current version, which the unique index proves right or wrong. A stream on which such a guess
    /// lost to another writer is marked contended, and `.any` looks its version up from then on.
    private func fastAppend(on connection: PostgresConnection, to stream: String, expected: ExpectedVersion, events: [EventData]) async throws -> AppendResult? {
        var base: Int64?
        var bound: StreamVersionCache.Entry?
        switch expected {
        case .noStream, .exact(0):
            base = 0
        case .exact(let version):
            bound = versions.bound(for: stream, atLeast: version)
            if bound != nil { base = version }
        case .any, .streamExists:
            bound = versions.bound(for: stream, atLeast: 1, guessing: true)
            base = bound?.version
        }
        let rows: PostgresRows
        do {
            if let base {
                let check: [any PostgresEncodable] = [bound?.origin.serverStartTime, bound?.origin.tableOID]
                if events.count == 1 {
                    let only = events[0]
                    rows = try await connection.query(Self.knownVersionAppendOne, [stream, base, only.id, only.type, only.data, only.metadata.json] + check)
                } else {
                    rows = try await connection.query(Self.knownVersionAppend, [stream, base] + Self.arrayBinds(events) + check)
                }
            } else if events.count == 1 {
                let only = events[0]
                rows = try await connection.query(
                    Self.fastAppendOne, [stream, expected.sqlKind, expected.sqlVersion, only.id, only.type, only.data, only.metadata.json])
            } else {
                rows = try await connection.query(Self.fastAppend, [stream, expected.sqlKind, expected.sqlVersion] + Self.arrayBinds(events))
            }
        } catch let error as PostgresError where error.code == "23505" {
            if expected == .any || expected == .streamExists, bound != nil {
                versions.markContended(stream)
            }
            return nil
        }
        guard rows.count == events.count else {
            if bound != nil {
                // The server is not the one (or the table not the one) the bound was learned on.
                logger.info("stream version bounds dropped: the server or the events table changed", metadata: ["stream": "\(stream)"])
                versions.removeAll()
                connection.forgetServerStartTime()
            }
            return nil
        }
        let result = try Self.fastAppendResult(stream, events, rows)
        try await learn(stream, version: result.streamVersion, tableOID: rows[0].decode(Int64.self, at: 3), on: connection)
        return result
    }

    /// Remembers that `stream` reached `version`, as read from a committed state on `connection`.
    private func learn(_ stream: String, version: Int64, tableOID: Int64, on connection: PostgresConnection) async throws {
        guard version > 0, versions.capacity > 0 else { return }
        let origin = StreamVersionCache.Origin(serverStartTime: try await connection.serverStartTime(), tableOID: tableOID)
        versions.record(stream, version: version, origin: origin)
    }

    /// The four array binds of a batch: ids, types, data and metadata.
    private static func arrayBinds(_ events: [EventData]) -> [any PostgresEncodable] {
        [
            PostgresArray(events.map { $0.id.lowercasedText }),
            PostgresArray(events.map(\.type)),
            PostgresArray(events.map(\.data)),
            PostgresArray(metadataJSON(events)),
        ]
    }

    /// The metadata column of each event. A batch usually carries one metadata value for all its
    /// events: each run of equal values is encoded once.
    static func metadataJSON(_ events: [EventData]) -> [String] {
        var out: [String] = []
        out.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            if index > 0, event.metadata == events[index - 1].metadata {
                out.append(out[index - 1])
            } else {
                out.append(event.metadata.json)
            }
        }
        return out
    }

    /// Stream $1's version: its last event's, found by one backward step on the unique
    /// (stream_name, stream_version) index whatever the stream's length. (`max()` is not used: the
    /// planner may aggregate over all of the stream's entries when it expects short streams.)
    static let currentVersion = """
        coalesce((SELECT stream_version FROM events WHERE stream_name = $1 ORDER BY stream_version DESC LIMIT 1), 0)
        """

    /// The expected-version check of both look-up fast paths: `c.version` is the stream's current
    /// version, $2 the kind of expectation and $3 the exact version.
    static let expectedVersionHolds = """
        CASE $2::text
            WHEN 'any' THEN true
            WHEN 'no_stream' THEN c.version = 0
            WHEN 'exists' THEN c.version > 0
            ELSE c.version = $3::int8
        END
        """

    /// The oid of the events table the statement's search path finds; with the server's start time
    /// it tags what `StreamVersionCache` learns.
    static let eventsTableOID = "'events'::regclass::oid::int8"

    /// What every fast path returns per event; `tableoid` tags what the cache learns.
    static let fastReturning = "RETURNING stream_version, tx_id, global_id, tableoid::int8"

    /// The fast path of a one-event append that looks the stream's version up, with scalar binds.
    static let fastAppendOne = """
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT $1, c.version + 1, $4::uuid, $5, $6::jsonb, $7::jsonb
        FROM (SELECT \(currentVersion) AS version) AS c
        WHERE \(expectedVersionHolds)
        \(fastReturning)
        """

    /// The fast path of a batch append that looks the stream's version up.
    static let fastAppend = """
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT $1, c.version + u.ord, u.id, u.t, u.d, u.m
        FROM (SELECT \(currentVersion) AS version) AS c,
             unnest($4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[]) WITH ORDINALITY AS u(id, t, d, m, ord)
        WHERE \(expectedVersionHolds)
        \(fastReturning)
        """

    /// The condition under which a known version may be used: none when it needs no bound ($a NULL,
    /// for `.noStream`), else the bound's origin, which the server confirms: the same server process
    /// and the same events table. Evaluated once per statement.
    static func originHolds(_ startTime: Int, _ tableOID: Int) -> String {
        "$\(startTime)::text IS NULL OR (pg_postmaster_start_time() = $\(startTime)::timestamptz AND \(eventsTableOID) = $\(tableOID)::int8)"
    }

    /// The fast path of a one-event append whose base version ($2) is known.
    static let knownVersionAppendOne = """
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT $1, $2::int8 + 1, $3::uuid, $4, $5::jsonb, $6::jsonb
        WHERE \(originHolds(7, 8))
        \(fastReturning)
        """

    /// The fast path of a batch append whose base version ($2) is known.
    static let knownVersionAppend = """
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT $1, $2::int8 + u.ord, u.id, u.t, u.d, u.m
        FROM unnest($3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[]) WITH ORDINALITY AS u(id, t, d, m, ord)
        WHERE \(originHolds(7, 8))
        \(fastReturning)
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

    /// How many columns `eventColumns` selects.
    static let eventColumnCount = 13

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
        return try await pool.withConnection { connection in
            let (version, tableOID) = try await connection.query("SELECT \(Self.currentVersion), \(Self.eventsTableOID)", [stream])[0]
                .decode(Int64.self, Int64.self)
            try await self.learn(stream, version: version, tableOID: tableOID, on: connection)
            return version
        }
    }

    /// Reads a page of `stream`. Forward reads start at `version` (default: the first event);
    /// backward reads start at `version` (default: the last event) and go down.
    public func readStream(_ stream: String, from version: Int64? = nil, direction: ReadDirection = .forward, limit: Int = 500) async throws -> StreamSlice {
        try Self.validateStreamName(stream)
        try Self.checkLimit(limit)
        let events = try await pool.withConnection { connection in
            // The table's oid comes along to tag the version this read proves the stream reached.
            let rows: PostgresRows
            switch direction {
            case .forward:
                rows = try await connection.query(
                    "SELECT \(Self.eventColumns), tableoid::int8 FROM events WHERE stream_name = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3",
                    [stream, max(version ?? 1, 1), limit])
            case .backward:
                rows = try await connection.query(
                    "SELECT \(Self.eventColumns), tableoid::int8 FROM events WHERE stream_name = $1 AND stream_version <= $2 ORDER BY stream_version DESC LIMIT $3",
                    [stream, version ?? Int64.max, limit])
            }
            let events = try Self.decodeEvents(rows)
            if let highest = direction == .forward ? events.last : events.first {
                try await self.learn(stream, version: highest.streamVersion, tableOID: rows[0].decode(Int64.self, at: Self.eventColumnCount), on: connection)
            }
            return events
        }
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
