import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The process manager's escalations as analysts and operators read them (`analytics.escalations`,
/// one row per `EscalationRaised`, with its acknowledgement and the first progress after it), and
/// the deadlines it has pending (`analytics.deadlines`, a view over the process manager's own
/// `pm_deadlines` table, which every migrated schema has).
///
/// Progress is what resolves an escalation: a stage entered, a handoff decided, the journey
/// completed or cancelled (`JourneyFold.isProgress`, the rule `analytics.journeys` counts its open
/// escalation level by). Reads the journey category only.
public struct EscalationsProjection: Projection {
    public let name = "escalations"
    /// 2: `analytics.deadlines` names a consent deadline's subject and downstream system.
    public let version = 2
    public let source = SubscriptionSource.categories([JourneyDecider.category])
    /// How the log's events are read: where sealed personal fields are opened.
    public let codec: EventCodec

    public init(codec: EventCodec = .standard) { self.codec = codec }

    public func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        // Each journey's type, for the escalations raised in later batches.
        try await transaction.execute("CREATE TABLE \(tables.name("journeys")) (journey_id text PRIMARY KEY, journey_type text NOT NULL)")
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("escalations")) (
                journey_id text NOT NULL,
                escalation_id text NOT NULL,
                journey_type text NOT NULL,
                reason text NOT NULL,
                goal text,
                level integer NOT NULL,
                role text NOT NULL,
                action text NOT NULL,
                queue_owner text,
                raised_at timestamptz NOT NULL,
                due_at timestamptz NOT NULL,
                lateness_seconds float8 NOT NULL,
                stale boolean NOT NULL,
                definition_version text NOT NULL,
                tier text NOT NULL,
                stage text NOT NULL,
                department text NOT NULL,
                instance text NOT NULL,
                acknowledged_by text,
                acknowledged_at timestamptz,
                note text,
                resolved_by_progress_at timestamptz,
                PRIMARY KEY (journey_id, escalation_id)
            )
            """)
        // The rows a later event can still change.
        try await transaction.execute(
            """
            CREATE INDEX ON \(tables.name("escalations")) (journey_id) WHERE acknowledged_at IS NULL OR resolved_by_progress_at IS NULL
            """)
    }

    public func readerIndexes() -> [ReaderIndex] { [.init("escalations", "raised_at")] }

    public func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [
            (
                "escalations",
                """
                SELECT e.journey_id, e.journey_type, e.escalation_id, e.reason, e.goal, e.level, e.role, e.action, e.queue_owner,
                    CASE WHEN e.resolved_by_progress_at IS NOT NULL THEN 'resolved' WHEN e.acknowledged_at IS NOT NULL THEN 'acknowledged'
                         ELSE 'open' END AS state,
                    e.raised_at, e.due_at, make_interval(secs => e.lateness_seconds) AS lateness, e.stale, e.definition_version, e.tier, e.stage,
                    e.department, e.instance, e.acknowledged_by, e.acknowledged_at, e.note, e.resolved_by_progress_at
                FROM \(tables.name("escalations")) e
                """
            ),
            (
                // Not built from the log here: the process manager's table, pending rows only.
                "deadlines",
                """
                SELECT d.journey_id, d.deadline_id, d.kind, d.due_at, d.deadline->>'goal' AS goal, (d.deadline->>'level')::int AS level,
                    (d.deadline->>'percent')::int AS percent, d.deadline->>'role' AS role, d.deadline->>'action' AS action,
                    d.version, d.scheduled_at, now() >= d.due_at AS overdue, d.subject_id, d.deadline->>'system' AS system
                FROM \(identifier: tables.schema).pm_deadlines d WHERE d.state = 'pending'
                """
            ),
        ]
    }

    public func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        let batch = try DecodedBatch(events) { [codec] recorded -> DecodedJourneyEvent?? in
            // Only the events that change a row are decoded; the journey's others pass as `.some(nil)`.
            guard Self.reads.contains(recorded.type) else { return JourneyEvent.storedTypes.contains(recorded.type) ? .some(nil) : nil }
            return try DecodedJourneyEvent.of(recorded, codec: codec).map { .some($0) }
        }
        guard !batch.events.isEmpty else { return batch.ignored }
        var started: [(journeyId: String, journeyType: String)] = []
        var types: [String: String] = [:]
        for case (_, let id, let decoded?) in batch.events {
            if case .started(let start) = decoded.event {
                started.append((id, start.journeyType))
                types[id] = start.journeyType
            }
        }
        // Journeys whose stored rows or type a batch's event needs: those that began before it.
        let before = batch.idsStoredBefore { decoded in
            guard let decoded else { return false }
            if case .started = decoded.event { return false }
            return true
        }
        var rows = EscalationRows(stored: try await EscalationRows.load(before, tables, in: transaction))
        var raising = Set<String>()
        for case (_, let id, let decoded?) in batch.events where types[id] == nil {
            if case .escalationRaised = decoded.event { raising.insert(id) }
        }
        for (id, type) in try await Self.journeyTypes(raising.sorted(), tables, in: transaction) { types[id] = type }
        for case (let recorded, let journeyId, let decoded?) in batch.events {
            switch decoded.event {
            case .escalationRaised(let raised):
                rows.raise(raised, journeyId: journeyId, journeyType: types[journeyId] ?? "")
            case .escalationAcknowledged(let acknowledged):
                rows.acknowledge(acknowledged, journeyId: journeyId, at: recorded.occurredAt)
            case let event where JourneyFold.isProgress(event):
                rows.progress(journeyId: journeyId, at: recorded.occurredAt)
            default:
                break
            }
        }
        var journeyRows = CopyBinary()
        for (id, type) in started {
            journeyRows.append(id)
            journeyRows.append(type)
            journeyRows.endRow()
        }
        // A JourneyStarted is its stream's first event: its row is new.
        try await StagedUpsert(tables: tables, table: "journeys", columns: ["journey_id", "journey_type"], key: ["journey_id"]).insert(
            journeyRows, in: transaction)
        try await rows.write(tables, in: transaction)
        return batch.ignored
    }

    static let reads: Set<String> = [
        "JourneyStarted", "EscalationRaised", "EscalationAcknowledged", "StageEntered", "HandoffAccepted", "HandoffRejected", "JourneyCompleted",
        "JourneyCancelled",
    ]

    private static func journeyTypes(_ ids: [String], _ tables: ProjectionTables, in transaction: Transaction) async throws -> [(String, String)] {
        guard !ids.isEmpty else { return [] }
        let rows = try await transaction.query(
            "SELECT journey_id, journey_type FROM \(tables.name("journeys")) WHERE journey_id = ANY(\(PostgresArray(ids))::text[])")
        return try rows.map { try $0.decode(String.self, String.self) }
    }
}
