import Foundation
import WaymarkPostgres

extension EventStore {
    /// How often an autocommit append is tried again after the order rule refused it (see
    /// `appendInOrder`) before the refusal reaches the caller.
    static let maxOrderAttempts = 20

    /// Appends `events` to `stream` atomically, in a transaction of its own.
    ///
    /// Throws `WrongExpectedVersionError` when `expected` does not hold, `EventStoreError` for bad
    /// input or an idempotency conflict; in every such case nothing is stored. Re-appending a batch
    /// that was stored (same event ids, same stream, same order) returns the original positions with
    /// `replayed == true` and writes nothing, also while the original is still committing.
    @discardableResult
    public func append(to stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        try await counted {
            try validate(stream: stream, events: events, expected: expected)
            return try await pool.withConnection(.brief) { connection in
                try await self.appendValidated(on: connection, to: stream, expected: expected, events: events)
            }
        }
    }

    /// Appends on `connection`: in its own transaction when the connection is idle, else inside the
    /// transaction running there (`Transaction.append`).
    func append(on connection: PostgresConnection, to stream: String, expected: ExpectedVersion, events: [EventData]) async throws -> AppendResult {
        try await counted(in: connection.isIdle ? nil : connection) {
            try validate(stream: stream, events: events, expected: expected)
            return try await appendValidated(on: connection, to: stream, expected: expected, events: events)
        }
    }

    /// Counts the append's outcome; one inside a caller's transaction counts once that commits.
    private func counted(in transaction: PostgresConnection? = nil, _ append: () async throws -> AppendResult) async throws -> AppendResult {
        let started = ContinuousClock.now
        defer { metrics.appendDuration.record(duration: ContinuousClock.now - started) }
        do {
            let result = try await append()
            if let transaction {
                transaction.afterCommit { [metrics] in metrics.record(result) }
            } else {
                metrics.record(result)
            }
            return result
        } catch {
            metrics.record(error)
            throw error
        }
    }

    private func appendValidated(on connection: PostgresConnection, to stream: String, expected: ExpectedVersion, events: [EventData]) async throws
        -> AppendResult
    {
        guard connection.isIdle else {
            // Inside the caller's transaction a unique violation would abort that transaction, so
            // the function, which catches it in a subtransaction, runs directly.
            let result = try await appendInOrder(on: connection, to: stream, expected: expected, events: events, autocommit: false)
            if !result.replayed { connection.afterCommit { [self] in announceAppend() } }
            return result
        }
        // Outside a transaction, one INSERT does the append (see `fastAppend`). With `.any` or
        // `.streamExists`, a version another writer took first is simply tried again: each INSERT
        // is a transaction of its own that gets its id after the winner committed, so it lands in
        // order, and a copy of the same batch shows up as a taken event id, which the function
        // sorts out.
        do {
            var tries = 0
            retrying: while true {
                tries += 1
                switch try await fastAppend(on: connection, to: stream, expected: expected, events: events) {
                case .appended(let result):
                    announceAppend()
                    return result
                case .versionTaken where (expected == .any || expected == .streamExists) && tries < Self.maxFastAttempts:
                    continue retrying
                case .versionTaken, .undecided:
                    break retrying
                }
            }
        } catch let error as PostgresError {
            throw translateAppendError(error, stream: stream, expected: expected, events: events)
        }
        var attempt = 1
        while true {
            do {
                let result = try await appendInOrder(on: connection, to: stream, expected: expected, events: events, autocommit: true)
                if !result.replayed { announceAppend() }
                return result
            } catch let error as EventStoreError where error.code == .retryTransaction && attempt < Self.maxOrderAttempts {
                // The function's own retry ran in a transaction that had become older than the
                // stream's last writer: a new transaction gets a newer id.
                attempt += 1
                metrics.orderRetries.increment()
            }
        }
    }

    /// Runs `append_events`, which sorts out conflicts, replays and races, and keeps the stream in
    /// version order in the global log: it refuses (SQLSTATE 40001, `retryTransaction`) an append
    /// whose transaction already holds an id older than the one that wrote the stream's last event,
    /// since readers order the log by transaction id and would see the new versions first.
    private func appendInOrder(
        on connection: PostgresConnection, to stream: String, expected: ExpectedVersion, events: [EventData], autocommit: Bool
    ) async throws -> AppendResult {
        do {
            let rows = try await connection.query(
                PostgresQuery(sql: Self.appendEvents, binds: [stream, expected.sqlKind, expected.sqlVersion] + Self.arrayBinds(events)))
            let result = try Self.appendResult(stream, rows, replayed: rows.count > 0 ? try rows[0].decode(Bool.self, at: 4) : false)
            if autocommit {
                // Committed: the versions it returns are the stream's from now on.
                try await learn(stream, version: result.streamVersion, tableOID: rows[0].decode(Int64.self, at: 5), on: connection)
            }
            return result
        } catch let error as PostgresError {
            throw translateAppendError(error, stream: stream, expected: expected, events: events)
        }
    }

    /// The one-statement append on an idle connection (autocommit). When it stores nothing,
    /// `append_events` must sort out a conflict, a retry or a race.
    ///
    /// When the stream's version before the append is known, the INSERT writes the versions after
    /// it directly; otherwise it first looks the version up on the (stream, version) index and
    /// checks the expectation. Either way the unique indexes refuse versions or ids that another
    /// writer took (SQLSTATE 23505). The version is known for `.noStream` (0), and from a bound this
    /// process learned (`StreamVersionCache`, whose origin the statement has the server confirm):
    /// `.exact(n)` when the bound is at least n, `.any` and `.streamExists` by taking the bound as the
    /// current version, which the unique index proves right or wrong. A stream on which such a guess
    /// lost to another writer is marked contended, and `.any` looks its version up from then on.
    private func fastAppend(on connection: PostgresConnection, to stream: String, expected: ExpectedVersion, events: [EventData]) async throws -> FastAppend {
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
                    rows = try await connection.query(
                        PostgresQuery(sql: Self.knownVersionAppendOne, binds: [stream, base, only.id, only.type, only.data, only.metadata.json] + check))
                } else {
                    rows = try await connection.query(PostgresQuery(sql: Self.knownVersionAppend, binds: [stream, base] + Self.arrayBinds(events) + check))
                }
            } else if events.count == 1 {
                let only = events[0]
                rows = try await connection.query(
                    PostgresQuery(
                        sql: Self.fastAppendOne, binds: [stream, expected.sqlKind, expected.sqlVersion, only.id, only.type, only.data, only.metadata.json]))
            } else {
                rows = try await connection.query(
                    PostgresQuery(sql: Self.fastAppend, binds: [stream, expected.sqlKind, expected.sqlVersion] + Self.arrayBinds(events)))
            }
        } catch let error as PostgresError where error.code == SQLState.uniqueViolation {
            if expected == .any || expected == .streamExists, bound != nil {
                versions.markContended(stream)
            }
            return error.constraint == "events_stream_version_key" ? .versionTaken : .undecided
        }
        guard rows.count == events.count else {
            if bound != nil {
                // The server is not the one (or the table not the one) the bound was learned on.
                logger.info("stream version bounds dropped: the server or the events table changed", metadata: ["waymark.stream": "\(stream)"])
                versions.removeAll()
                connection.forgetServerStartTime()
            }
            return .undecided
        }
        let result = try Self.fastAppendResult(stream, events, rows)
        try await learn(stream, version: result.streamVersion, tableOID: rows[0].decode(Int64.self, at: 3), on: connection)
        return .appended(result)
    }

    enum FastAppend {
        case appended(AppendResult)
        /// Another writer committed the version first (the unique (stream, version) index).
        case versionTaken
        /// Nothing stored: the expectation does not hold, an event id is taken, or a remembered
        /// version's origin did not match; `append_events` decides.
        case undecided
    }

    /// How many one-statement tries an `.any` append makes on a contended stream before it leaves
    /// the race to `append_events`.
    static let maxFastAttempts = 50

    /// Remembers that `stream` reached `version`, as read from a committed state on `connection`.
    func learn(_ stream: String, version: Int64, tableOID: Int64, on connection: PostgresConnection) async throws {
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
    static let currentVersion = currentVersion(of: "$1")

    /// The version of the stream named by `column`; see `currentVersion`.
    static func currentVersion(of column: String) -> String {
        "coalesce((SELECT stream_version FROM events WHERE stream_name = \(column) ORDER BY stream_version DESC LIMIT 1), 0)"
    }

    /// The expected-version check of both look-up fast paths: `c.version` is the stream's current
    /// version, $2 the kind of expectation and $3 the exact version. The rule itself lives in SQL,
    /// once (migration 0003), for these statements and for `append_events`. The version subquery
    /// carries `OFFSET 0` so that it stays a column: PostgreSQL inlines the rule only when its
    /// arguments are that simple, and otherwise runs the function as a call planned each time.
    static let expectedVersionHolds = "expected_version_holds($2::text, $3::int8, c.version)"

    /// The append through the function, which sorts out conflicts, replays, races and the order rule.
    static let appendEvents = """
        SELECT event_id, stream_version, tx_id, global_id, replayed, \(eventsTableOID)
        FROM append_events($1, $2, $3, $4::uuid[], $5::text[], $6::jsonb[], $7::jsonb[])
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
        FROM (SELECT \(currentVersion) AS version OFFSET 0) AS c
        WHERE \(expectedVersionHolds)
        \(fastReturning)
        """

    /// The fast path of a batch append that looks the stream's version up.
    static let fastAppend = """
        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
        SELECT $1, c.version + u.ord, u.id, u.t, u.d, u.m
        FROM (SELECT \(currentVersion) AS version OFFSET 0) AS c,
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

    func translateAppendError(_ error: PostgresError, stream: String, expected: ExpectedVersion, events: [EventData]) -> Error {
        switch error.code {
        case StoreSQLState.wrongExpectedVersion:
            return WrongExpectedVersionError(streamName: stream, expected: expected, actualVersion: Int64(error.detail ?? "") ?? 0)
        case StoreSQLState.idempotencyConflict:
            return EventStoreError(.idempotencyConflict, error.message)
        case SQLState.serializationFailure:
            // The order rule, a snapshot too old to see the winning writer, or endless contention.
            return EventStoreError(.retryTransaction, error.message)
        case StoreSQLState.invalidAppend, SQLState.checkViolation:
            return EventStoreError(.invalidInput, error.message)
        case SQLState.invalidTextRepresentation, SQLState.untranslatableCharacter, SQLState.invalidEscapeSequence, SQLState.characterNotInRepertoire,
            SQLState.invalidJSONText:
            // Invalid JSON (or text PostgreSQL cannot store): find the event to name it.
            for event in events where (try? JSONSerialization.jsonObject(with: Data(event.data.utf8), options: [.fragmentsAllowed])) == nil {
                return EventStoreError(
                    .invalidEventData, "event \(event.id) (\(event.type)) for stream \(stream) does not hold valid JSON data: \(error.message)")
            }
            let which = events.count == 1 ? "event \(events[0].id) (\(events[0].type))" : "the batch"
            return EventStoreError(.invalidEventData, "\(which) for stream \(stream) holds JSON that cannot be stored as jsonb: \(error.message)")
        default:
            return error
        }
    }

}
