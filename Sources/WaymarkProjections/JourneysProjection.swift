import Foundation
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Where every journey stands (`journeys`), each visit to a stage (`stage_visits`: where journeys
/// wait) and each handoff between departments (`handoffs`), from the `journey` category.
///
/// Times are when things happened (`metadata.occurred_at`, else when recorded). Figures that
/// depend on the clock (time in the current stage, a wait still open, stalled) are computed by the
/// views when read, never stored. A handoff's wait here is wall-clock time; whether it kept its
/// OLA, counted in business hours, is `analytics.ola` (the SLA projection).
///
/// A journey's row keeps the customer and tier it started with; the customers' records (`customers`:
/// tier, the survivor after merges) come from the customer category, and the view joins them when
/// read, so a merge or a tier change rewrites one customer's row, not each of its journeys.
public struct JourneysProjection: Projection {
    public let name = "journeys"
    /// 2: folds kept as the rows' own columns (`StoredJourneys`), not as JSON beside them.
    /// 3: a handoff pending when its journey ends is ended with it (`cancelled`); customers' records
    /// kept for the survivor, the current tier and whether the customer is registered.
    /// 4: the process manager's decisions: `escalations` counted, the open escalation level
    /// (raised, neither acknowledged nor resolved by progress) and the priority.
    public let version = 4
    public let source = SubscriptionSource.categories([CustomerDecider.category, JourneyDecider.category])
    /// The definitions journeys started under (a stage's maximum dwell, a handoff's OLA): the
    /// files' and every version recorded in the log.
    public let definitions: DefinitionLibrary
    /// How the log's events are read: where sealed personal fields are opened.
    public let codec: EventCodec

    public init(definitions: DefinitionLibrary, codec: EventCodec = .standard) {
        self.definitions = definitions
        self.codec = codec
    }

    public init(catalog: JourneyCatalog) {
        self.init(definitions: DefinitionLibrary(catalog))
    }

    public func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("journeys")) (
                journey_id text PRIMARY KEY,
                journey_type text NOT NULL,
                definition_version text NOT NULL,
                customer_id text NOT NULL,
                tier text NOT NULL,
                external_process_id text,
                stage text NOT NULL,
                department text NOT NULL,
                owner text,
                status text NOT NULL,
                started_at timestamptz NOT NULL,
                ended_at timestamptz,
                stage_entered_at timestamptz NOT NULL,
                stage_max_dwell interval,
                waiting_since timestamptz,
                handoffs integer NOT NULL,
                handoffs_rejected integer NOT NULL,
                escalations integer NOT NULL,
                reassignments integer NOT NULL,
                rework_loops integer NOT NULL,
                last_csat integer,
                last_nps integer,
                last_event_at timestamptz NOT NULL,
                visit_no integer NOT NULL,
                stages_visited text[] NOT NULL,
                priority integer NOT NULL,
                open_escalation_level integer,
                open_escalations text[] NOT NULL
            )
            """)
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("stage_visits")) (
                journey_id text NOT NULL,
                visit_no integer NOT NULL,
                stage text NOT NULL,
                department text NOT NULL,
                owner text,
                entered_at timestamptz NOT NULL,
                left_at timestamptz,
                left_for text,
                PRIMARY KEY (journey_id, visit_no)
            )
            """)
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("handoffs")) (
                journey_id text NOT NULL,
                handoff_no integer NOT NULL,
                from_stage text NOT NULL,
                to_stage text NOT NULL,
                from_department text NOT NULL,
                to_department text NOT NULL,
                requested_at timestamptz NOT NULL,
                decided_at timestamptz,
                outcome text NOT NULL,
                decided_by text,
                reason text,
                ola interval,
                PRIMARY KEY (journey_id, handoff_no)
            )
            """)
        try await JourneyCustomers.createTable(tables, in: transaction)
    }

    public func readerIndexes() -> [ReaderIndex] {
        [
            .init("journeys", "status, journey_type"), .init("journeys", "customer_id"),
            // A type's open journeys (the console's list and map).
            .init("journeys", "journey_type, ended_at"),
            // A type's open journeys per stage, longest in it first, with what the board shows of
            // each (the stalled status is worked out from these): counts and cards index-only.
            // `customer_id` only because the view joins on it: PostgreSQL drops the unused join
            // but still wants the column from the index.
            .init(
                "journeys", "journey_type, stage, stage_entered_at, journey_id",
                include: ["status", "stage_max_dwell", "tier", "owner", "open_escalation_level", "customer_id"], where: "ended_at IS NULL",
                name: "open_by_stage"),
        ]
    }

    public func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [
            (
                "journeys",
                """
                SELECT j.journey_id, j.journey_type, j.definition_version, j.customer_id, j.tier, j.external_process_id, j.stage, j.department, j.owner,
                    CASE WHEN j.status = 'active' AND j.stage_max_dwell IS NOT NULL AND now() - j.stage_entered_at > j.stage_max_dwell THEN 'stalled'
                         ELSE j.status END AS status,
                    j.started_at, j.ended_at, j.stage_entered_at, coalesce(j.ended_at, now()) - j.stage_entered_at AS time_in_stage, j.stage_max_dwell,
                    j.waiting_since, j.handoffs, j.handoffs_rejected, j.escalations, j.reassignments, j.rework_loops, j.last_csat, j.last_nps,
                    j.last_event_at, coalesce(c.survivor_id, j.customer_id) AS survivor_customer_id, coalesce(s.tier, j.tier) AS current_tier,
                    c.customer_id IS NOT NULL AS customer_registered, j.open_escalation_level, j.priority
                FROM \(tables.name("journeys")) j
                LEFT JOIN \(tables.name("customers")) c ON c.customer_id = j.customer_id
                LEFT JOIN \(tables.name("customers")) s ON s.customer_id = coalesce(c.survivor_id, j.customer_id)
                """
            ),
            (
                "time_in_status",
                """
                SELECT v.journey_id, j.journey_type, j.tier, v.visit_no, v.stage, v.department, v.owner, v.entered_at, v.left_at, v.left_for,
                    coalesce(v.left_at, j.ended_at, now()) - v.entered_at AS duration, v.left_at IS NULL AND j.ended_at IS NULL AS is_current
                FROM \(tables.name("stage_visits")) v JOIN \(tables.name("journeys")) j USING (journey_id)
                """
            ),
            (
                "handoffs",
                """
                SELECT h.journey_id, j.journey_type, j.tier, h.handoff_no, h.from_stage, h.to_stage, h.from_department, h.to_department,
                    h.requested_at, h.decided_at, h.outcome, h.decided_by, h.reason, coalesce(h.decided_at, now()) - h.requested_at AS wait
                FROM \(tables.name("handoffs")) h JOIN \(tables.name("journeys")) j USING (journey_id)
                """
            ),
        ]
    }

    public func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        let batch = try DecodedBatch(events) { event -> JourneyInput? in
            if JourneyInput.isTimeOnly(event.type) { return .timeOnly }
            if event.isIn(category: JourneyDecider.category) { return try DecodedJourneyEvent.of(event, codec: codec).map(JourneyInput.event) }
            return try JourneyCustomers.Change(event, codec: codec).map(JourneyInput.customer)
        }
        guard !batch.events.isEmpty else { return batch.ignored }
        let catalog = try await definitions.catalog(
            knowing: batch.events.compactMap { recorded, _, input in
                guard case .event(let decoded) = input, case .started(let started) = decoded.event else { return nil }
                return (recorded, started)
            }, in: transaction)
        var journeys = StreamSlots()
        var eventSlots: [Int] = []
        eventSlots.reserveCapacity(batch.events.count)
        var customers = JourneyCustomers()
        for (recorded, id, input) in batch.events {
            if case .customer(let change) = input {
                customers.note(change, of: id)
                eventSlots.append(-1)
            } else {
                eventSlots.append(journeys.slot(id, of: recorded))
            }
        }
        if !customers.isEmpty { try await customers.apply(tables, in: transaction) }
        let stored = try await StoredJourneys.load(journeys.storedBefore, tables, in: transaction)
        let ids = journeys.ids
        var folds = ids.map { stored[$0] }
        var changes = Array(repeating: JourneyFold.Changes(), count: ids.count)
        for (index, (recorded, journeyId, input)) in batch.events.enumerated() {
            let slot = eventSlots[index]
            guard slot >= 0 else { continue }
            let at = recorded.occurredAt
            // Folds change in place in the array (a fold copied out and back retained each string).
            if folds[slot] == nil {
                guard case .event(let decoded) = input, case .started(let started) = decoded.event else {
                    throw ProjectionError(recorded, "journey \(journeyId) has a \(recorded.type) before its JourneyStarted")
                }
                folds[slot] = JourneyFold(
                    started, at: at, maxDwell: catalog.definition(version: started.definitionVersion)?.stage(started.stage)?.maxDwell?.seconds)
            }
            guard case .event(let decoded) = input else {
                folds[slot]!.noteTime(at)
                continue
            }
            folds[slot]!.apply(decoded.event, at: at, catalog: catalog, changes: &changes[slot])
        }
        // Rows of journeys, visits and handoffs the stored folds did not have yet are new.
        var rows = (new: CopyBinary(), changed: CopyBinary())
        var visitRows = (new: CopyBinary(), changed: CopyBinary())
        var handoffRows = (new: CopyBinary(), changed: CopyBinary())
        for slot in ids.indices {
            let before = stored[ids[slot]]
            if before == nil { folds[slot]!.write(into: &rows.new) } else { folds[slot]!.write(into: &rows.changed) }
            for visit in changes[slot].visits {
                if visit.number > before?.visit.number ?? 0 { visit.write(into: &visitRows.new) } else { visit.write(into: &visitRows.changed) }
            }
            for handoff in changes[slot].handoffs {
                if handoff.number > before?.handoffs ?? 0 { handoff.write(into: &handoffRows.new) } else { handoff.write(into: &handoffRows.changed) }
            }
        }
        try await StagedUpsert(tables: tables, table: "journeys", columns: JourneyFold.columns, key: ["journey_id"])
            .write(new: rows.new, changed: rows.changed, in: transaction)
        try await StagedUpsert(tables: tables, table: "stage_visits", columns: JourneyFold.Visit.columns, key: ["journey_id", "visit_no"])
            .write(new: visitRows.new, changed: visitRows.changed, in: transaction)
        try await StagedUpsert(tables: tables, table: "handoffs", columns: JourneyFold.Handoff.columns, key: ["journey_id", "handoff_no"])
            .write(new: handoffRows.new, changed: handoffRows.changed, in: transaction)
        return batch.ignored
    }
}

/// An event as the journeys projection reads it.
enum JourneyInput {
    case event(DecodedJourneyEvent)
    /// A customer's registration, tier change or merge.
    case customer(JourneyCustomers.Change)
    /// A milestone or a compensation: it moves only `last_event_at`, so its data is not decoded
    /// (the most frequent events of a journey).
    case timeOnly

    static func isTimeOnly(_ type: String) -> Bool { type == "MilestoneReached" || type == "CompensationRecorded" }
}
