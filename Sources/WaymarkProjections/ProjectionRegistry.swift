import Foundation
import WaymarkEventStore
import WaymarkPostgres

/// One build of a projection version as the `projections` table records it.
public struct ProjectionRecord: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Filling its tables beside the live build (or as the first one).
        case building
        /// The analytics views read it.
        case live
        /// Stopped on an event; `retry` resumes it.
        case failed
        /// Replaced by a newer build; its tables are dropped right after (or, should the process
        /// die first, when its projection is next led).
        case retired
    }

    public var name: String
    public var version: Int
    public var build: Int
    public var state: State
    public var resumeState: State?
    public var failedPosition: GlobalPosition?
    public var failedEventId: UUID?
    public var error: String?
    public var eventsHandled: Int64
    public var eventsIgnored: Int64
    /// Events an operator told the projection to pass over (`skip`).
    public var eventsSkipped: Int64
    public var updatedAt: Date
}

/// An event an operator told a projection to pass over, with who, when and why.
public struct ProjectionSkip: Sendable, Equatable {
    public var name: String
    public var eventId: UUID
    public var position: GlobalPosition
    public var reason: String
    public var skippedBy: String
    public var skippedAt: Date
    /// The error the build stopped with.
    public var error: String
}

/// Reads and changes the `projections` table (migration 0005).
struct ProjectionRegistry: Sendable {
    let store: EventStore

    static let columns: PostgresQuery = """
        name, version, build, state, resume_state, failed_position_tx::text, failed_position_id, failed_event_id, error,
        events_handled, events_ignored, events_skipped, (extract(epoch FROM updated_at) * 1000000)::int8
        """

    static func decode(_ rows: PostgresRows) throws -> [ProjectionRecord] {
        try rows.map { row in
            let (name, version, build, state, resume, failedTx, failedId, failedEvent, error, handled, ignored, skipped, updated) = try row.decode(
                String.self, Int.self, Int.self, String.self, String?.self, String?.self, Int64?.self, UUID?.self, String?.self, Int64.self, Int64.self,
                Int64.self, Int64.self)
            return ProjectionRecord(
                name: name, version: version, build: build, state: ProjectionRecord.State(rawValue: state) ?? .failed,
                resumeState: resume.flatMap(ProjectionRecord.State.init(rawValue:)),
                failedPosition: failedTx.flatMap(UInt64.init).map { GlobalPosition(transactionId: $0, sequence: failedId ?? 0) },
                failedEventId: failedEvent, error: error, eventsHandled: handled, eventsIgnored: ignored,
                eventsSkipped: skipped, updatedAt: Date(timeIntervalSince1970: Double(updated) / 1_000_000))
        }
    }

    /// Every build not retired, of one projection or of all; live first, then by version and build.
    func records(_ name: String? = nil) async throws -> [ProjectionRecord] {
        let filter: PostgresQuery = name.map { "AND name = \($0)" } ?? ""
        return try Self.decode(
            try await store.query(
                "SELECT \(Self.columns) FROM projections WHERE state <> 'retired' \(filter) ORDER BY name, state <> 'live', version, build"))
    }

    /// Makes sure the code's version has a build: the first build of a projection is live from the
    /// start (there is nothing to serve meanwhile); a new version is built beside the live one.
    func ensureBuild(of projection: any Projection) async throws {
        try await store.transaction { tx in
            try await lock(projection.name, in: tx)
            let existing = try await tx.query(
                "SELECT 1 FROM projections WHERE name = \(projection.name) AND version = \(projection.version) AND state <> 'retired'")
            guard existing.isEmpty else { return }
            let live = try await tx.query("SELECT 1 FROM projections WHERE name = \(projection.name) AND state = 'live'")
            try await tx.execute(
                """
                INSERT INTO projections (name, version, build, state)
                SELECT \(projection.name), \(projection.version), coalesce(max(build), 0) + 1, \(live.isEmpty ? "live" : "building")
                FROM projections WHERE name = \(projection.name) AND version = \(projection.version)
                """)
        }
    }

    /// Asks for a new build of the live version beside it (`waymark projections rebuild`); a build
    /// already under way is dropped first (a rebuild starts clean).
    func requestRebuild(_ name: String, version: Int) async throws -> Int {
        let build = try await store.transaction { tx in
            try await lock(name, in: tx)
            let pending = try await tx.query(
                "SELECT build FROM projections WHERE name = \(name) AND state IN ('building', 'failed') AND (state = 'building' OR resume_state = 'building')")
            for row in pending { try await retire(name, version: version, build: try row.decode(Int.self, at: 0), in: tx) }
            let rows = try await tx.query(
                """
                INSERT INTO projections (name, version, build, state)
                SELECT \(name), \(version), coalesce(max(build), 0) + 1, 'building' FROM projections WHERE name = \(name) AND version = \(version)
                RETURNING build
                """)
            try await announceChange(in: tx)
            return try rows[0].decode(Int.self, at: 0)
        }
        try await dropRetiredTables(name)
        return build
    }

    /// Where a change asked of the registry (a rebuild, a retry) is announced, at its commit.
    var channel: String { String("waymark_projections_\(store.schema)".prefix(63)) }

    /// Wakes the runners (through `channel`) once `tx` commits: they see the change at once
    /// instead of at their next look.
    private func announceChange(in tx: Transaction) async throws {
        try await tx.execute(PostgresQuery(sql: "NOTIFY \(PostgresIdentifier.quote(channel))"))
    }

    /// Serializes changes to the builds of `name` until `tx` ends. An advisory lock, not a lock on
    /// the table: that one also waited for every batch's count update and for autovacuum of the
    /// table (until the deadlock check cancelled it, a second later).
    func lock(_ name: String, in tx: Transaction) async throws {
        try await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(\("waymark-projection-registry:\(store.schema):\(name)"), 0))")
    }

    /// Records that a build stopped on an event.
    /// Returns false when the build is retired (its failure is of no interest any more).
    @discardableResult
    func markFailed(_ projection: any Projection, build: Int, error: any Error) async throws -> Bool {
        let failure = error as? ProjectionError
        let message = String(describing: error).prefix(2_000)
        let rows = try await store.query(
            """
            UPDATE projections SET resume_state = CASE WHEN state = 'failed' THEN resume_state ELSE state END, state = 'failed',
                failed_position_tx = \(failure.map { String($0.position.transactionId) })::xid8, failed_position_id = \(failure?.position.sequence),
                failed_event_id = \(failure?.eventId), error = \(String(message)), updated_at = now()
            WHERE name = \(projection.name) AND version = \(projection.version) AND build = \(build) AND state <> 'retired'
            RETURNING build
            """)
        return !rows.isEmpty
    }

    /// Resumes the failed builds of `name`; returns how many.
    func retry(_ name: String) async throws -> Int {
        try await store.transaction { tx in
            let resumed = try await tx.execute(
                """
                UPDATE projections SET state = resume_state, resume_state = NULL, error = NULL, failed_position_tx = NULL, failed_position_id = NULL,
                    failed_event_id = NULL, updated_at = now()
                WHERE name = \(name) AND state = 'failed'
                """)
            if resumed > 0 { try await announceChange(in: tx) }
            return resumed
        }
    }

    /// Records that `name` passes over event `eventId`, the event a build of it stopped on, and
    /// resumes the builds stopped there. Refused, naming what is wrong, when no build of `name`
    /// stopped on that event: an event already applied cannot be taken back by skipping it.
    func skip(_ name: String, event eventId: UUID, reason: String, by actor: String) async throws -> Int {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        let actor = actor.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty else { throw ProjectionCommandError.invalid("a skip needs a reason (--reason): it is kept with the skip for the audit") }
        guard !actor.isEmpty else { throw ProjectionCommandError.invalid("a skip needs who decided it (--by)") }
        return try await store.transaction { tx in
            try await lock(name, in: tx)
            let failed = try await tx.query(
                """
                SELECT failed_event_id, failed_position_tx::text, failed_position_id, error FROM projections
                WHERE name = \(name) AND state = 'failed'
                """)
            guard !failed.isEmpty else {
                throw ProjectionCommandError.notStopped("projection \(name) has no build stopped on an event; only the event a build stopped on can be skipped")
            }
            let stops = try failed.map { try $0.decode(UUID?.self, String?.self, Int64?.self, String?.self) }
            guard let stop = stops.first(where: { $0.0 == eventId }), let txText = stop.1, let tx64 = UInt64(txText), let sequence = stop.2 else {
                let on = stops.compactMap { $0.0?.uuidString.lowercased() }
                throw ProjectionCommandError.notStopped(
                    "projection \(name) did not stop on event \(eventId.uuidString.lowercased())"
                        + (on.isEmpty
                            ? " (it stopped without naming an event: see `waymark projections status`)" : "; it stopped on \(on.joined(separator: ", "))"))
            }
            try await tx.execute(
                """
                INSERT INTO projection_skips (name, event_id, position_tx, position_id, reason, skipped_by, error)
                VALUES (\(name), \(eventId), \(String(tx64))::xid8, \(sequence), \(reason), \(actor), \(stop.3 ?? ""))
                ON CONFLICT (name, event_id) DO NOTHING
                """)
            let resumed = try await tx.execute(
                """
                UPDATE projections SET state = resume_state, resume_state = NULL, error = NULL, failed_position_tx = NULL, failed_position_id = NULL,
                    failed_event_id = NULL, updated_at = now()
                WHERE name = \(name) AND state = 'failed' AND failed_event_id = \(eventId)
                """)
            try await announceChange(in: tx)
            return resumed
        }
    }

    /// The events `name` passes over, oldest first.
    func skips(_ name: String? = nil) async throws -> [ProjectionSkip] {
        try await store.query(
            """
            SELECT name, event_id, position_tx::text, position_id, reason, skipped_by, (extract(epoch FROM skipped_at) * 1000000)::int8, error
            FROM projection_skips WHERE name = \(name) OR \(name)::text IS NULL ORDER BY name, position_tx, position_id
            """
        ).map { row in
            let (name, event, tx, sequence, reason, by, at, error) = try row.decode(
                String.self, UUID.self, String.self, Int64.self, String.self, String.self, Int64.self, String.self)
            return ProjectionSkip(
                name: name, eventId: event, position: GlobalPosition(transactionId: UInt64(tx) ?? 0, sequence: sequence), reason: reason,
                skippedBy: by, skippedAt: Date(timeIntervalSince1970: Double(at) / 1_000_000), error: error)
        }
    }

    /// Marks a build retired and drops its checkpoint, in `tx`; `dropRetiredTables` drops its
    /// tables once `tx` committed, so that a switch of the views never waits on file removal.
    func retire(_ name: String, version: Int, build: Int, in tx: Transaction) async throws {
        let tables = ProjectionTables(schema: store.schema, projection: name, version: version, build: build)
        try await tx.execute("DELETE FROM subscription_checkpoints WHERE subscription_name = \(tables.subscriptionName)")
        try await tx.execute(
            "UPDATE projections SET state = 'retired', resume_state = NULL, updated_at = now() WHERE name = \(name) AND version = \(version) AND build = \(build)"
        )
    }

    /// Drops what retired builds of `name` left: their tables and functions, and a checkpoint a
    /// batch of theirs wrote anew while it was retired. A runner's switch and a rebuild request may
    /// both be at it, hence `IF EXISTS`.
    func dropRetiredTables(_ name: String) async throws {
        try await store.query(
            """
            DELETE FROM subscription_checkpoints c USING projections p
            WHERE p.name = \(name) AND p.state = 'retired' AND c.subscription_name = format('projection:%s:v%sb%s', p.name, p.version, p.build)
            """)
        for leftover in try await retiredLeftovers(of: name) {
            try await store.query(PostgresQuery(sql: "DROP \(leftover) CASCADE"))
        }
    }

    /// What retired builds left (of `name`, or of every projection): as `TABLE IF EXISTS …` and
    /// `FUNCTION IF EXISTS …`, ready for DROP.
    func retiredLeftovers(of name: String? = nil) async throws -> [String] {
        try await store.query(
            """
            SELECT 'TABLE IF EXISTS ' || format('%I.%I', t.schemaname, t.tablename) FROM pg_tables t
            JOIN projections p ON starts_with(t.tablename, format('proj_%s_v%sb%s_', p.name, p.version, p.build))
            WHERE t.schemaname = \(store.schema) AND (p.name = \(name) OR \(name)::text IS NULL) AND p.state = 'retired'
            UNION ALL
            SELECT 'FUNCTION IF EXISTS ' || f.oid::regprocedure::text FROM pg_proc f JOIN pg_namespace n ON n.oid = f.pronamespace
            JOIN projections p ON starts_with(f.proname, format('proj_%s_v%sb%s_', p.name, p.version, p.build))
            WHERE n.nspname = \(store.schema) AND (p.name = \(name) OR \(name)::text IS NULL) AND p.state = 'retired'
            """
        ).map { try $0.decode(String.self, at: 0) }
    }
}
