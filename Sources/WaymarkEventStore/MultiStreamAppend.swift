import Foundation
import WaymarkPostgres

/// One stream's part of an append to several streams.
public struct StreamAppend: Sendable, Equatable {
    public var stream: String
    public var expected: ExpectedVersion
    public var events: [EventData]

    public init(to stream: String, expected: ExpectedVersion = .any, events: [EventData]) {
        self.stream = stream
        self.expected = expected
        self.events = events
    }
}

extension EventStore {
    /// Appends to several streams atomically: every part lands, or none does, in one transaction;
    /// within it the global log holds the streams in name order, each in version order. Each part follows the
    /// rules of `append(to:expected:events:)`: its expected version, and a part stored before (same
    /// event ids) returns its original positions with `replayed == true`.
    ///
    /// When every expectation holds and no event id was used before, one INSERT writes all parts (the
    /// way a command handler writes a batch of commands to many journeys in one round trip);
    /// otherwise the parts run one by one through `append_events` in one transaction, which names
    /// the part whose expectation failed (`WrongExpectedVersionError`) or replays them.
    ///
    /// Refused by the order rule (a part's stream was last written by a newer transaction, which
    /// happens when other writers append to the same streams meanwhile), it runs again in a new
    /// transaction, like a single append, before the refusal reaches the caller.
    @discardableResult
    public func append(_ parts: [StreamAppend]) async throws -> [AppendResult] {
        var attempt = 1
        while true {
            do {
                return try await withSession { try await $0.append(parts) }
            } catch let error as EventStoreError where error.code == .retryTransaction && attempt < Self.maxOrderAttempts {
                attempt += 1
                metrics.orderRetries.increment()
            }
        }
    }

    func append(on connection: PostgresConnection, parts: [StreamAppend]) async throws -> [AppendResult]? {
        try validate(parts)
        let started = ContinuousClock.now
        defer { metrics.appendDuration.record(duration: ContinuousClock.now - started) }
        let rows: PostgresRows
        do {
            rows = try await connection.query(PostgresQuery(sql: Self.multiStreamAppend, binds: Self.multiStreamBinds(parts)))
        } catch let error as PostgresError where error.code == SQLState.uniqueViolation || error.code == SQLState.deadlockDetected {
            return nil
        } catch let error as PostgresError {
            throw translateAppendError(error, stream: parts.map(\.stream).joined(separator: ", "), expected: .any, events: parts.flatMap(\.events))
        }
        guard rows.count == parts.reduce(0, { $0 + $1.events.count }) else { return nil }
        var byStream: [String: [AppendedEvent]] = [:]
        var tableOID: Int64 = 0
        for row in rows {
            let (stream, version, transactionId, sequence, oid) = try row.decode(String.self, Int64.self, UInt64.self, Int64.self, Int64.self)
            byStream[stream, default: []].append(
                AppendedEvent(id: UUID(), streamVersion: version, position: GlobalPosition(transactionId: transactionId, sequence: sequence)))
            tableOID = oid
        }
        var results: [AppendResult] = []
        results.reserveCapacity(parts.count)
        for part in parts {
            var appended = (byStream[part.stream] ?? []).sorted { $0.streamVersion < $1.streamVersion }
            for index in appended.indices { appended[index].id = part.events[index].id }
            let result = AppendResult(streamName: part.stream, events: appended, replayed: false)
            metrics.record(result)
            try await learn(part.stream, version: result.streamVersion, tableOID: tableOID, on: connection)
            results.append(result)
        }
        announceAppend()
        return results
    }

    private func validate(_ parts: [StreamAppend]) throws {
        if parts.isEmpty { throw EventStoreError(.invalidInput, "an append to several streams needs at least one stream") }
        var streams = Set<String>(minimumCapacity: parts.count)
        var ids = Set<UUID>()
        for part in parts {
            try validate(stream: part.stream, events: part.events, expected: part.expected)
            if !streams.insert(part.stream).inserted {
                throw EventStoreError(.invalidInput, "stream \(part.stream) appears twice in one append; put its events in one part")
            }
            for event in part.events where !ids.insert(event.id).inserted {
                throw EventStoreError(.invalidInput, "event id \(event.id) appears twice in one append")
            }
        }
        let total = ids.count
        if total > Self.maxBatchSize {
            throw EventStoreError(.invalidInput, "an append holds at most \(Self.maxBatchSize) events; this one has \(total)")
        }
    }

    /// Stream arrays ($1–$3: name, kind of expectation, exact version) and event arrays ($4–$8: the
    /// index of the event's stream, id, type, data, metadata).
    private static func multiStreamBinds(_ parts: [StreamAppend]) -> [any PostgresEncodable] {
        var streamIndexes: [Int64] = []
        var events: [EventData] = []
        for (index, part) in parts.enumerated() {
            streamIndexes.append(contentsOf: repeatElement(Int64(index + 1), count: part.events.count))
            events.append(contentsOf: part.events)
        }
        return [
            PostgresArray(parts.map(\.stream)), PostgresArray(parts.map(\.expected.sqlKind)),
            PostgresArray(parts.map { $0.expected.sqlVersion.map(String.init) }),
            PostgresArray(values: streamIndexes), PostgresArray(events.map { $0.id.lowercasedText }), PostgresArray(events.map(\.type)),
            PostgresArray(events.map(\.data)), PostgresArray(metadataJSON(events)),
        ]
    }

    /// The one-statement append to several streams. `s` looks each stream's version up once; the
    /// INSERT writes only when every expectation holds, so a failed one writes nothing, and a version
    /// or id another writer took fails the whole statement on the unique indexes. The events are
    /// inserted in the order given (`ORDER BY e.n`) so that their global ids, which the identity
    /// column hands out in insertion order, follow each stream's versions; streams go in name order,
    /// so that two such appends wait for each other's index entries in one order, never in a cycle.
    static let multiStreamAppend = """
        WITH s AS MATERIALIZED (
            SELECT u.n, u.stream, u.kind, u.expected, \(currentVersion(of: "u.stream")) AS version
            FROM unnest($1::text[], $2::text[], $3::int8[]) WITH ORDINALITY AS u(stream, kind, expected, n)
        ), e AS MATERIALIZED (
            SELECT e.*, row_number() OVER (PARTITION BY e.sn ORDER BY e.n) AS ord
            FROM unnest($4::int8[], $5::uuid[], $6::text[], $7::jsonb[], $8::jsonb[]) WITH ORDINALITY AS e(sn, id, t, d, m, n)
        )
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT s.stream, s.version + e.ord, e.id, e.t, e.d, e.m
        FROM e JOIN s ON s.n = e.sn
        WHERE (SELECT bool_and(expected_version_holds(s.kind, s.expected, s.version)) FROM s)
        ORDER BY s.stream, e.n
        RETURNING stream_name, stream_version, tx_id, global_id, tableoid::int8
        """
}

extension Session {
    /// Appends to several streams atomically; see `EventStore.append(_:)`.
    @discardableResult
    public func append(_ parts: [StreamAppend]) async throws -> [AppendResult] {
        if let results = try await store.append(on: connection, parts: parts) { return results }
        // An expectation failed, or an id or version was taken: the function sorts out which part
        // and why, or finds the parts stored before.
        // In stream-name order, like the one-statement append, so that writers do not deadlock.
        let byName = parts.indices.sorted { parts[$0].stream < parts[$1].stream }
        let results = try await transaction { transaction in
            var results: [Int: AppendResult] = [:]
            for index in byName {
                let part = parts[index]
                results[index] = try await transaction.append(to: part.stream, expected: part.expected, events: part.events)
            }
            return results
        }
        return parts.indices.map { results[$0]! }
    }
}
