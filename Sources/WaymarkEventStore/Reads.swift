import Foundation
import WaymarkPostgres

/// How much of each event's metadata a read of the log returns.
public enum MetadataFields: Sendable, Equatable {
    /// Every field.
    case all
    /// Only `occurredAt`; the other fields are nil and `extra` is empty. What a projection folding
    /// by time needs, at a fraction of the cost of the rest (each field is looked up in the
    /// metadata's JSON on the server and decoded as a string in the reader).
    case occurredAt

    /// Whether events read with these fields have every field `other` asks for.
    func covers(_ other: MetadataFields) -> Bool { self == .all || other == .occurredAt }
}

extension EventStore {
    /// What a read selects of each event, in the order `decodeEvents` takes them.
    static func eventColumnExpressions(_ metadata: MetadataFields) -> [String] {
        let fields =
            metadata == .all
            ? ["metadata->>'correlation_id'", "metadata->>'causation_id'", "metadata->>'actor'", "metadata->>'source_system'", "metadata->'extra'"]
            : ["NULL", "NULL", "NULL", "NULL", "NULL"]
        return ["event_id", "stream_name", "stream_version", "tx_id", "global_id", "event_type", "data"] + fields + [
            "(extract(epoch FROM recorded_at) * 1000000)::int8",
            // As the text the store wrote (`TimestampText.iso8601`), parsed by the reader: casting it
            // to a timestamp and taking the epoch cost the server as much as all other columns together.
            "metadata->>'occurred_at'",
        ]
    }

    static let eventColumns = PostgresQuery(sql: eventColumnExpressions(.all).joined(separator: ", "))

    static func eventColumns(_ metadata: MetadataFields) -> String {
        metadata == .all ? eventColumns.sql : leanEventColumns
    }

    private static let leanEventColumns = eventColumnExpressions(.occurredAt).joined(separator: ", ")

    /// How many columns `eventColumns` selects.
    static var eventColumnCount: Int { eventColumnExpressions(.all).count }

    /// The events of `rows`.
    static func decodeEvents(_ rows: PostgresRows) throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        events.reserveCapacity(rows.count)
        for row in rows {
            let (id, stream, version, transactionId, sequence, type, data, correlation, causation, actor, source, extra, micros, occurredAt) =
                try row.decode(
                    UUID.self, String.self, Int64.self, UInt64.self, Int64.self, String.self, String.self,
                    String?.self, String?.self, String?.self, String?.self, String?.self, Int64.self, OccurredAtText?.self)
            var extraValues: [String: String] = [:]
            if let extra, let object = try? JSONSerialization.jsonObject(with: Data(extra.utf8)) as? [String: Any] {
                for (key, value) in object { extraValues[key] = value as? String ?? "\(value)" }
            }
            events.append(
                RecordedEvent(
                    id: id, streamName: stream, streamVersion: version,
                    position: GlobalPosition(transactionId: transactionId, sequence: sequence),
                    type: type, data: data,
                    metadata: EventMetadata(
                        correlationId: correlation, causationId: causation, actor: actor, sourceSystem: source,
                        occurredAt: occurredAt?.date, extra: extraValues),
                    recordedAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000),
                    metadataProblem: occurredAt?.problem))
        }
        return events
    }

    /// An event's `occurred_at` as stored: a time, or the text no reader understands. A text that
    /// does not parse must not fail the read of a whole page (every subscription sharing it would
    /// stop, also on the events before it).
    enum OccurredAtText: PostgresDecodable {
        case date(Date)
        case unreadable(String)

        static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> OccurredAtText {
            if let date = try? Date.decode(postgresText: bytes) { return .date(date) }
            return .unreadable(String(decoding: bytes, as: UTF8.self))
        }

        var date: Date? {
            if case .date(let date) = self { return date }
            return nil
        }

        var problem: String? {
            guard case .unreadable(let text) = self else { return nil }
            return "its metadata occurred_at '\(text.prefix(60))' is no ISO 8601 time with a UTC offset"
        }
    }

    private static func checkLimit(_ limit: Int) throws {
        guard (1...10_000).contains(limit) else { throw EventStoreError(.invalidInput, "a read's limit must be between 1 and 10000, not \(limit)") }
    }

    /// The stream's version: the number of events in it, 0 when it does not exist.
    public func streamVersion(_ stream: String) async throws -> Int64 {
        try await pool.withConnection(.brief) { try await self.streamVersion(on: $0, stream, learn: true) }
    }

    /// With `learn`, the version is remembered as a lower bound (the read saw committed state).
    func streamVersion(on connection: PostgresConnection, _ stream: String, learn: Bool) async throws -> Int64 {
        try Self.validateStreamName(stream)
        let (version, tableOID) = try await connection.query(
            PostgresQuery(sql: "SELECT \(Self.currentVersion), \(Self.eventsTableOID)", binds: [stream]))[0]
            .decode(Int64.self, Int64.self)
        if learn { try await self.learn(stream, version: version, tableOID: tableOID, on: connection) }
        return version
    }

    /// Reads a page of `stream`. Forward reads start at `version` (default: the first event);
    /// backward reads start at `version` (default: the last event) and go down.
    public func readStream(_ stream: String, from version: Int64? = nil, direction: ReadDirection = .forward, limit: Int = 500) async throws -> StreamSlice {
        try await pool.withConnection(.brief) { connection in
            try await self.readStream(on: connection, stream, from: version, direction: direction, limit: limit, learn: true)
        }
    }

    func readStream(
        on connection: PostgresConnection, _ stream: String, from version: Int64?, direction: ReadDirection, limit: Int, learn: Bool
    ) async throws -> StreamSlice {
        try Self.validateStreamName(stream)
        try Self.checkLimit(limit)
        // The table's oid comes along to tag the version this read proves the stream reached.
        let rows: PostgresRows
        switch direction {
        case .forward:
            rows = try await connection.query(
                "SELECT \(Self.eventColumns), tableoid::int8 FROM events WHERE stream_name = \(stream) AND stream_version >= \(max(version ?? 1, 1)) ORDER BY stream_version LIMIT \(limit)"
            )
        case .backward:
            rows = try await connection.query(
                "SELECT \(Self.eventColumns), tableoid::int8 FROM events WHERE stream_name = \(stream) AND stream_version <= \(version ?? Int64.max) ORDER BY stream_version DESC LIMIT \(limit)"
            )
        }
        let events = try Self.decodeEvents(rows)
        if learn, let highest = direction == .forward ? events.last : events.first {
            try await self.learn(stream, version: highest.streamVersion, tableOID: rows[0].decode(Int64.self, at: Self.eventColumnCount), on: connection)
        }
        metrics.recordRead(.stream, events: events.count)
        var next: Int64?
        if events.count == limit, let last = events.last {
            next = direction == .forward ? last.streamVersion + 1 : (last.streamVersion > 1 ? last.streamVersion - 1 : nil)
        }
        return StreamSlice(streamName: stream, events: events, nextVersion: next)
    }

    /// Reads the global log after `position`, oldest first. Every stream's events come in version
    /// order (see `append_events`, the order rule).
    public func readAll(after position: GlobalPosition = .start, limit: Int = 1000, metadata: MetadataFields = .all) async throws -> GlobalSlice {
        try await pool.withConnection(.brief) { try await self.readAll(on: $0, after: position, limit: limit, metadata: metadata) }
    }

    /// Reads the events of streams in `category` after `position`, in global order.
    public func readCategory(_ category: String, after position: GlobalPosition = .start, limit: Int = 1000, metadata: MetadataFields = .all)
        async throws -> GlobalSlice
    {
        try await pool.withConnection(.brief) { try await self.readCategory(on: $0, category, after: position, limit: limit, metadata: metadata) }
    }

    /// Only transactions below the snapshot's xmin have all finished; later ones are held back so
    /// that an event committing late is never skipped.
    static let horizon = "pg_snapshot_xmin(pg_current_snapshot())"

    /// A page of the global log: a range scan of the primary key (tx_id, global_id) that starts at
    /// the position and stops at the horizon.
    static func readAllPage(_ metadata: MetadataFields = .all) -> String {
        """
        SELECT \(eventColumns(metadata)) FROM events
        WHERE (tx_id, global_id) > ($1::xid8, $2) AND tx_id < \(horizon)
        ORDER BY tx_id, global_id LIMIT $3
        """
    }

    /// A page of a category: a range scan of (category, tx_id, global_id) bounded by two row
    /// comparisons, so the index descends straight to the position and stops at the horizon, at
    /// the same cost at any depth. (With `category = $1` beside a row comparison, the scan would
    /// start at the category's first entry and step through it to the position; and with the
    /// category a known constant, the planner may prefer the primary key filtered by category.)
    static func readCategoryPage(_ metadata: MetadataFields = .all) -> String {
        """
        SELECT \(eventColumns(metadata)) FROM events
        WHERE (category, tx_id, global_id) > ($1, $2::xid8, $3) AND (category, tx_id) < ($1, \(horizon))
        ORDER BY category, tx_id, global_id LIMIT $4
        """
    }

    /// The readable end of the log: the newest event below the horizon.
    static let readableEnd = """
        SELECT tx_id, global_id FROM events WHERE tx_id < \(horizon) ORDER BY tx_id DESC, global_id DESC LIMIT 1
        """

    /// A page of several categories up to the readable end `($4, $5)`: each category's range of
    /// (category, tx_id, global_id), merged in global order (a Merge Append that reads no more of
    /// each than the page takes). Within a category the scan starts at the position (`tx_id >=`
    /// bounds the index's second column; a row comparison after `category =` would not). Each
    /// branch has its own limit so that the planner scans the index rather than sorting a whole
    /// category.
    static func readCategoriesPage(categories: Int, metadata: MetadataFields = .all) -> String {
        let branches = (0..<categories).map { index in
            """
            (SELECT \(eventColumns(metadata)) FROM events
             WHERE category = $\(6 + index) AND tx_id >= $1::xid8 AND (tx_id, global_id) > ($1::xid8, $2)
               AND tx_id <= $4::xid8 AND (tx_id, global_id) <= ($4::xid8, $5)
             ORDER BY tx_id, global_id LIMIT $3)
            """
        }
        return "SELECT * FROM (\(branches.joined(separator: " UNION ALL "))) AS page ORDER BY tx_id, global_id LIMIT $3"
    }

    /// Reads the events of streams in any of `categories` after `position`, in global order: up
    /// to `limit` of them. A page that ends before the limit reached the readable end of the log,
    /// and its next position is that end even when other categories' events come last, so that a
    /// reader of rare categories moves past the rest of the log without reading it.
    public func readCategories(_ categories: [String], after position: GlobalPosition = .start, limit: Int = 1000, metadata: MetadataFields = .all)
        async throws -> GlobalSlice
    {
        try await pool.withConnection(.brief) { try await self.readCategories(on: $0, categories, after: position, limit: limit, metadata: metadata) }
    }

    func readCategories(
        on connection: PostgresConnection, _ categories: [String], after position: GlobalPosition, limit: Int, metadata: MetadataFields = .all
    ) async throws -> GlobalSlice {
        for category in categories { try Self.validateCategory(category) }
        try Self.checkLimit(limit)
        let distinct = Array(Set(categories)).sorted()
        // The end first, then the page up to it: every event up to the end committed before the
        // first statement's snapshot, so the second sees exactly those, however late it runs.
        let endRow = try await connection.query(PostgresQuery(sql: Self.readableEnd)).first
        guard let end = try endRow.map({ try GlobalPosition($0) }), end > position, !distinct.isEmpty else {
            return GlobalSlice(events: [], nextPosition: position, isEnd: true)
        }
        let rows = try await connection.query(
            PostgresQuery(
                sql: Self.readCategoriesPage(categories: distinct.count, metadata: metadata),
                binds: [position.transactionId, position.sequence, limit, end.transactionId, end.sequence] + distinct.map { $0 as any PostgresEncodable }))
        let events = try Self.decodeEvents(rows)
        metrics.recordRead(.category, events: events.count)
        let isEnd = events.count < limit
        return GlobalSlice(events: events, nextPosition: isEnd ? end : events[events.count - 1].position, isEnd: isEnd)
    }

    func readAll(on connection: PostgresConnection, after position: GlobalPosition, limit: Int, metadata: MetadataFields = .all) async throws -> GlobalSlice {
        try Self.checkLimit(limit)
        let rows = try await connection.query(PostgresQuery(sql: Self.readAllPage(metadata), binds: [position.transactionId, position.sequence, limit]))
        metrics.recordRead(.all, events: rows.count)
        return try Self.slice(rows, after: position, limit: limit)
    }

    func readCategory(
        on connection: PostgresConnection, _ category: String, after position: GlobalPosition, limit: Int, metadata: MetadataFields = .all
    ) async throws -> GlobalSlice {
        try Self.validateCategory(category)
        try Self.checkLimit(limit)
        let rows = try await connection.query(
            PostgresQuery(sql: Self.readCategoryPage(metadata), binds: [category, position.transactionId, position.sequence, limit]))
        metrics.recordRead(.category, events: rows.count)
        return try Self.slice(rows, after: position, limit: limit)
    }

    private static func slice(_ rows: PostgresRows, after position: GlobalPosition, limit: Int) throws -> GlobalSlice {
        let events = try decodeEvents(rows)
        return GlobalSlice(events: events, nextPosition: events.last?.position ?? position, isEnd: events.count < limit)
    }

    /// The newest committed event's position and the readers' horizon, from one snapshot. A reader
    /// whose short page ended before `lastPosition` is held back by an open transaction
    /// (`isHeldBack`); one that reached it has seen every event committed when this was asked.
    public func head() async throws -> LogHead {
        let row = try await pool.query(
            PostgresQuery(
                sql: """
                    SELECT e.tx_id, e.global_id, \(Self.horizon)
                    FROM (VALUES (1)) AS one
                    LEFT JOIN LATERAL (SELECT tx_id, global_id FROM events ORDER BY tx_id DESC, global_id DESC LIMIT 1) AS e ON true
                    """))[0]
        let (transactionId, sequence, horizon) = try row.decode(UInt64?.self, Int64?.self, UInt64.self)
        let last = transactionId.flatMap { id in sequence.map { GlobalPosition(transactionId: id, sequence: $0) } }
        return LogHead(lastPosition: last, horizon: horizon)
    }

    /// The stored event with id `id`, or nil when none is: whether a batch whose reply was lost
    /// landed, and where. Finds committed events that readers still hold back as well.
    public func event(withId id: UUID) async throws -> RecordedEvent? {
        try await pool.withConnection(.brief) { try await self.event(on: $0, withId: id) }
    }

    func event(on connection: PostgresConnection, withId id: UUID) async throws -> RecordedEvent? {
        try Self.decodeEvents(try await connection.query("SELECT \(Self.eventColumns) FROM events WHERE event_id = \(id)")).first
    }
}
