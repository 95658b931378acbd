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
        /// Replaced by a newer build; its tables are gone.
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
    public var updatedAt: Date
}

/// Reads and changes the `projections` table (migration 0005).
struct ProjectionRegistry: Sendable {
    let store: EventStore

    static let columns: PostgresQuery = """
        name, version, build, state, resume_state, failed_position_tx::text, failed_position_id, failed_event_id, error,
        events_handled, events_ignored, (extract(epoch FROM updated_at) * 1000000)::int8
        """

    static func decode(_ rows: PostgresRows) throws -> [ProjectionRecord] {
        try rows.map { row in
            let (name, version, build, state, resume, failedTx, failedId, failedEvent, error, handled, ignored, updated) = try row.decode(
                String.self, Int.self, Int.self, String.self, String?.self, String?.self, Int64?.self, UUID?.self, String?.self, Int64.self, Int64.self,
                Int64.self)
            return ProjectionRecord(
                name: name, version: version, build: build, state: ProjectionRecord.State(rawValue: state) ?? .failed,
                resumeState: resume.flatMap(ProjectionRecord.State.init(rawValue:)),
                failedPosition: failedTx.flatMap(UInt64.init).map { GlobalPosition(transactionId: $0, sequence: failedId ?? 0) },
                failedEventId: failedEvent, error: error, eventsHandled: handled, eventsIgnored: ignored,
                updatedAt: Date(timeIntervalSince1970: Double(updated) / 1_000_000))
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
            try await tx.execute("LOCK TABLE projections IN SHARE ROW EXCLUSIVE MODE")
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
        try await store.transaction { tx in
            try await tx.execute("LOCK TABLE projections IN SHARE ROW EXCLUSIVE MODE")
            let pending = try await tx.query(
                "SELECT build FROM projections WHERE name = \(name) AND state IN ('building', 'failed') AND (state = 'building' OR resume_state = 'building')")
            for row in pending { try await retire(name, version: version, build: try row.decode(Int.self, at: 0), in: tx) }
            let rows = try await tx.query(
                """
                INSERT INTO projections (name, version, build, state)
                SELECT \(name), \(version), coalesce(max(build), 0) + 1, 'building' FROM projections WHERE name = \(name) AND version = \(version)
                RETURNING build
                """)
            return try rows[0].decode(Int.self, at: 0)
        }
    }

    /// Records that a build stopped on an event.
    func markFailed(_ projection: any Projection, build: Int, error: any Error) async throws {
        let failure = error as? ProjectionError
        let message = String(describing: error).prefix(2_000)
        try await store.query(
            """
            UPDATE projections SET resume_state = CASE WHEN state = 'failed' THEN resume_state ELSE state END, state = 'failed',
                failed_position_tx = \(failure.map { String($0.position.transactionId) })::xid8, failed_position_id = \(failure?.position.sequence),
                failed_event_id = \(failure?.eventId), error = \(String(message)), updated_at = now()
            WHERE name = \(projection.name) AND version = \(projection.version) AND build = \(build)
            """)
    }

    /// Resumes the failed builds of `name`; returns how many.
    func retry(_ name: String) async throws -> Int {
        try await store.transaction { tx in
            try await tx.execute(
                """
                UPDATE projections SET state = resume_state, resume_state = NULL, error = NULL, failed_position_tx = NULL, failed_position_id = NULL,
                    failed_event_id = NULL, updated_at = now()
                WHERE name = \(name) AND state = 'failed'
                """)
        }
    }

    /// Drops a build's tables and checkpoint and marks it retired, in `tx`.
    func retire(_ name: String, version: Int, build: Int, in tx: Transaction) async throws {
        let tables = ProjectionTables(schema: store.schema, projection: name, version: version, build: build)
        for table in try await tables.existing(in: tx) { try await tx.execute("DROP TABLE IF EXISTS \(identifier: store.schema).\(identifier: table) CASCADE") }
        let functions = try await tx.query(
            """
            SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = \(store.schema) AND starts_with(p.proname, \(tables.prefix))
            """)
        for function in functions { try await tx.execute("DROP FUNCTION IF EXISTS \(PostgresQuery(sql: try function.decode(String.self, at: 0))) CASCADE") }
        try await tx.execute("DELETE FROM subscription_checkpoints WHERE subscription_name = \(tables.subscriptionName)")
        try await tx.execute(
            "UPDATE projections SET state = 'retired', resume_state = NULL, updated_at = now() WHERE name = \(name) AND version = \(version) AND build = \(build)"
        )
    }
}
