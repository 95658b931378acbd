import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The rows of `escalations` a batch of the escalations projection touches: those it raises and
/// the stored ones its acknowledgements and progress can still change (not both acknowledged and
/// resolved), each written once at the end of the batch.
struct EscalationRows {
    struct Row {
        var journeyId: String
        var escalationId: String
        var journeyType: String
        var reason: String
        var goal: String?
        var level: Int
        var role: String
        var action: String
        var queueOwner: String?
        var raisedAt: Date
        var dueAt: Date
        var latenessSeconds: Double
        var stale: Bool
        var definitionVersion: String
        var tier: String
        var stage: String
        var department: String
        var instance: String
        var acknowledgedBy: String?
        var acknowledgedAt: Date?
        var note: String?
        var resolvedAt: Date?
        /// Raised in this batch: written with COPY, not through the staged upsert.
        var isNew = false

        static let columns = [
            "journey_id", "escalation_id", "journey_type", "reason", "goal", "level", "role", "action", "queue_owner", "raised_at", "due_at",
            "lateness_seconds", "stale", "definition_version", "tier", "stage", "department", "instance", "acknowledged_by", "acknowledged_at", "note",
            "resolved_by_progress_at",
        ]

        func write(into out: inout CopyBinary) {
            for text in [journeyId, escalationId, journeyType, reason, goal] { out.append(text) }
            out.append(integer: level)
            for text in [role, action, queueOwner] { out.append(text) }
            out.append(raisedAt)
            out.append(dueAt)
            out.append(float8: latenessSeconds)
            out.append(stale)
            for text in [definitionVersion, tier, stage, department, instance, acknowledgedBy] { out.append(text) }
            out.append(acknowledgedAt)
            out.append(note)
            out.append(resolvedAt)
            out.endRow()
        }
    }

    private var rows: [Row] = []
    /// Rows by journey, in the order raised.
    private var ofJourney: [String: [Int]] = [:]
    private var touched = Set<Int>()

    init(stored: [Row]) {
        for row in stored { add(row) }
    }

    private mutating func add(_ row: Row) {
        ofJourney[row.journeyId, default: []].append(rows.count)
        rows.append(row)
    }

    mutating func raise(_ raised: JourneyEvent.EscalationRaised, journeyId: String, journeyType: String) {
        let audit = raised.audit
        // The event's id derives from its deadline, so the log holds each escalation once.
        guard !(ofJourney[journeyId] ?? []).contains(where: { rows[$0].escalationId == raised.escalationId }) else { return }
        touched.insert(rows.count)
        add(
            Row(
                journeyId: journeyId, escalationId: raised.escalationId, journeyType: journeyType, reason: raised.reason.rawValue, goal: raised.goal,
                level: raised.level, role: raised.role, action: raised.action.rawValue, queueOwner: raised.queueOwner, raisedAt: audit.decidedAt,
                dueAt: audit.dueAt, latenessSeconds: audit.latenessSeconds, stale: audit.stale, definitionVersion: audit.definitionVersion,
                tier: audit.tier, stage: audit.stage, department: audit.department, instance: audit.instance, isNew: true))
    }

    mutating func acknowledge(_ acknowledged: JourneyEvent.EscalationAcknowledged, journeyId: String, at: Date) {
        for slot in ofJourney[journeyId] ?? [] where rows[slot].escalationId == acknowledged.escalationId && rows[slot].acknowledgedAt == nil {
            rows[slot].acknowledgedBy = acknowledged.by
            rows[slot].acknowledgedAt = at
            rows[slot].note = acknowledged.note
            touched.insert(slot)
        }
    }

    /// The journey progressed at `at`: every escalation raised before and not resolved yet is
    /// resolved then.
    mutating func progress(journeyId: String, at: Date) {
        for slot in ofJourney[journeyId] ?? [] where rows[slot].resolvedAt == nil {
            rows[slot].resolvedAt = at
            touched.insert(slot)
        }
    }

    func write(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await StagedUpsert(tables: tables, table: "escalations", columns: Row.columns, key: ["journey_id", "escalation_id"])
            .write(touched.sorted().map { rows[$0] }, isNew: \.isNew, in: transaction) { row, out in row.write(into: &out) }
    }

    /// The stored rows of `journeyIds` that an acknowledgement or progress can still change.
    static func load(_ journeyIds: [String], _ tables: ProjectionTables, in transaction: Transaction) async throws -> [Row] {
        guard !journeyIds.isEmpty else { return [] }
        let found = try await transaction.query(
            """
            SELECT journey_id, escalation_id, journey_type, reason, goal, level, role, action, queue_owner, raised_at, due_at, lateness_seconds, stale,
                definition_version, tier, stage, department, instance, acknowledged_by, acknowledged_at, note, resolved_by_progress_at
            FROM \(tables.name("escalations"))
            WHERE journey_id = ANY(\(PostgresArray(journeyIds))::text[]) AND (acknowledged_at IS NULL OR resolved_by_progress_at IS NULL)
            ORDER BY journey_id, raised_at, escalation_id
            """)
        return try found.map { row in
            Row(
                journeyId: try row.decode(String.self, at: 0), escalationId: try row.decode(String.self, at: 1),
                journeyType: try row.decode(String.self, at: 2), reason: try row.decode(String.self, at: 3), goal: try row.decode(String?.self, at: 4),
                level: try row.decode(Int.self, at: 5), role: try row.decode(String.self, at: 6), action: try row.decode(String.self, at: 7),
                queueOwner: try row.decode(String?.self, at: 8), raisedAt: try row.decode(Date.self, at: 9), dueAt: try row.decode(Date.self, at: 10),
                latenessSeconds: try row.decode(Double.self, at: 11), stale: try row.decode(Bool.self, at: 12),
                definitionVersion: try row.decode(String.self, at: 13), tier: try row.decode(String.self, at: 14),
                stage: try row.decode(String.self, at: 15), department: try row.decode(String.self, at: 16),
                instance: try row.decode(String.self, at: 17), acknowledgedBy: try row.decode(String?.self, at: 18),
                acknowledgedAt: try row.decode(Date?.self, at: 19), note: try row.decode(String?.self, at: 20),
                resolvedAt: try row.decode(Date?.self, at: 21))
        }
    }
}
