import Foundation
import WaymarkEventStore
import WaymarkPostgres

/// The journeys projection's folds as its tables store them: the journey's row, its open (or
/// last) stage visit and its pending handoff. A fold is read back from them, not from JSON beside
/// them: encoding every touched fold as JSON was a fifth of the projection's own CPU.
enum StoredJourneys {
    /// The folds of `journeyIds` that are stored, by id (journeys seen for the first time are absent).
    static func load(_ journeyIds: [String], _ tables: ProjectionTables, in transaction: Transaction) async throws -> [String: JourneyFold] {
        let rows = try await transaction.query(
            """
            SELECT j.journey_id, j.journey_type, j.definition_version, j.customer_id, j.tier, j.external_process_id, j.stage, j.department, j.owner,
                j.status, j.started_at, j.ended_at, j.stage_entered_at, extract(epoch FROM j.stage_max_dwell)::int8, j.waiting_since, j.handoffs,
                j.handoffs_rejected, j.escalations, j.reassignments, j.rework_loops, j.last_csat, j.last_nps, j.last_event_at, j.stages_visited,
                v.visit_no, v.stage, v.department, v.owner, v.entered_at, v.left_at, v.left_for,
                h.handoff_no, h.from_stage, h.to_stage, h.from_department, h.to_department, h.requested_at, extract(epoch FROM h.ola)::int8,
                j.priority, j.open_escalations
            FROM \(tables.name("journeys")) j
            JOIN \(tables.name("stage_visits")) v ON v.journey_id = j.journey_id AND v.visit_no = j.visit_no
            LEFT JOIN \(tables.name("handoffs")) h ON h.journey_id = j.journey_id AND h.handoff_no = j.handoffs AND h.outcome = 'pending'
            WHERE j.journey_id = ANY(\(PostgresArray(journeyIds))::text[])
            """)
        var folds: [String: JourneyFold] = [:]
        folds.reserveCapacity(rows.count)
        for row in rows {
            let fold = try JourneyFold(row)
            folds[fold.journeyId] = fold
        }
        return folds
    }
}

extension JourneyFold {
    /// The fold a row of `StoredJourneys.load` holds.
    fileprivate init(_ row: PostgresRow) throws {
        journeyId = try row.decode(String.self, at: 0)
        journeyType = try row.decode(String.self, at: 1)
        definitionVersion = try row.decode(String.self, at: 2)
        customerId = try row.decode(String.self, at: 3)
        tier = try row.decode(String.self, at: 4)
        externalProcessId = try row.decode(String?.self, at: 5)
        stage = try row.decode(String.self, at: 6)
        department = try row.decode(String.self, at: 7)
        owner = try row.decode(String?.self, at: 8)
        status = try row.decode(String.self, at: 9)
        startedAt = try row.decode(Date.self, at: 10)
        endedAt = try row.decode(Date?.self, at: 11)
        stageEnteredAt = try row.decode(Date.self, at: 12)
        stageMaxDwellSeconds = try row.decode(Int64?.self, at: 13)
        waitingSince = try row.decode(Date?.self, at: 14)
        handoffs = try row.decode(Int.self, at: 15)
        handoffsRejected = try row.decode(Int.self, at: 16)
        escalations = try row.decode(Int.self, at: 17)
        reassignments = try row.decode(Int.self, at: 18)
        reworkLoops = try row.decode(Int.self, at: 19)
        lastCSAT = try row.decode(Int?.self, at: 20)
        lastNPS = try row.decode(Int?.self, at: 21)
        lastEventAt = try row.decode(Date.self, at: 22)
        stagesVisited = try row.decode([String].self, at: 23)
        visit = Visit(
            journeyId: journeyId, number: try row.decode(Int.self, at: 24), stage: try row.decode(String.self, at: 25),
            department: try row.decode(String.self, at: 26), owner: try row.decode(String?.self, at: 27), enteredAt: try row.decode(Date.self, at: 28),
            leftAt: try row.decode(Date?.self, at: 29), leftFor: try row.decode(String?.self, at: 30))
        if let number = try row.decode(Int?.self, at: 31) {
            pendingHandoff = Handoff(
                journeyId: journeyId, number: number, fromStage: try row.decode(String.self, at: 32), toStage: try row.decode(String.self, at: 33),
                fromDepartment: try row.decode(String.self, at: 34), toDepartment: try row.decode(String.self, at: 35),
                requestedAt: try row.decode(Date.self, at: 36), outcome: "pending", olaSeconds: try row.decode(Int64?.self, at: 37))
        } else {
            pendingHandoff = nil
        }
        priority = try row.decode(Int.self, at: 38)
        openEscalations = try row.decode([String].self, at: 39)
    }
}
