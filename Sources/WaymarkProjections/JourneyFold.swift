import Foundation
import WaymarkDomain
import WaymarkPostgres

/// One journey as the journeys projection folds it: the row of `journeys`, plus what the next
/// events need (the open stage visit, the pending handoff, the stages visited). Stored as the
/// rows' own columns (`StoredJourneys`), so a batch reads each journey it touches once and writes
/// it once, without JSON beside them.
struct JourneyFold: Sendable {
    var journeyId: String
    var journeyType: String
    var definitionVersion: String
    var customerId: String
    var tier: String
    var externalProcessId: String?
    var stage: String
    var department: String
    var owner: String?
    /// active, waiting_on_customer, completed, cancelled (the view adds stalled).
    var status: String
    var startedAt: Date
    var endedAt: Date?
    var stageEnteredAt: Date
    var stageMaxDwellSeconds: Int64?
    var waitingSince: Date?
    var handoffs = 0
    var handoffsRejected = 0
    var escalations = 0
    var reassignments = 0
    var reworkLoops = 0
    var lastCSAT: Int?
    var lastNPS: Int?
    var lastEventAt: Date
    var stagesVisited: [String]
    /// 0 is normal; the process manager's `PriorityRaised` sets it.
    var priority = 0
    /// Escalations raised and neither acknowledged nor resolved by progress since, as
    /// `<level>:<escalation id>` (the view shows the highest level).
    var openEscalations: [String] = []
    /// The stage visit open now, or the last one once the journey ended.
    var visit: Visit
    /// The latest handoff while it waits for a decision.
    var pendingHandoff: Handoff?

    struct Visit: Sendable {
        var journeyId: String
        var number: Int
        var stage: String
        var department: String
        var owner: String?
        var enteredAt: Date
        var leftAt: Date?
        var leftFor: String?

        static let columns = ["journey_id", "visit_no", "stage", "department", "owner", "entered_at", "left_at", "left_for"]
        func write(into rows: inout CopyBinary) {
            rows.append(journeyId)
            rows.append(integer: number)
            rows.append(stage)
            rows.append(department)
            rows.append(owner)
            rows.append(enteredAt)
            rows.append(leftAt)
            rows.append(leftFor)
            rows.endRow()
        }
    }

    struct Handoff: Sendable {
        var journeyId: String
        var number: Int
        var fromStage: String
        var toStage: String
        var fromDepartment: String
        var toDepartment: String
        var requestedAt: Date
        var decidedAt: Date?
        var outcome: String
        var decidedBy: String?
        var reason: String?
        var olaSeconds: Int64?

        static let columns = [
            "journey_id", "handoff_no", "from_stage", "to_stage", "from_department", "to_department", "requested_at", "decided_at", "outcome", "decided_by",
            "reason", "ola",
        ]
        func write(into rows: inout CopyBinary) {
            rows.append(journeyId)
            rows.append(integer: number)
            for text in [fromStage, toStage, fromDepartment, toDepartment] { rows.append(text) }
            rows.append(requestedAt)
            rows.append(decidedAt)
            for text in [outcome, decidedBy, reason] { rows.append(text) }
            rows.append(intervalSeconds: olaSeconds)
            rows.endRow()
        }
    }

    init(_ started: JourneyEvent.Started, at: Date, maxDwell: Int64?) {
        journeyId = started.journeyId
        journeyType = started.journeyType
        definitionVersion = started.definitionVersion
        customerId = started.customerId
        tier = started.tier
        externalProcessId = started.externalProcessId
        stage = started.stage
        department = started.department
        owner = started.owner
        status = "active"
        startedAt = at
        stageEnteredAt = at
        stageMaxDwellSeconds = maxDwell
        lastEventAt = at
        stagesVisited = [started.stage]
        visit = Visit(journeyId: started.journeyId, number: 1, stage: started.stage, department: started.department, owner: started.owner, enteredAt: at)
    }

    /// The visits and handoffs of one journey that a batch created or changed, each as it stands
    /// last. A journey's events touch visits and handoffs in the order of their numbers, so a
    /// change to the one noted last replaces it.
    struct Changes {
        var visits: [Visit] = []
        var handoffs: [Handoff] = []

        mutating func note(_ visit: Visit) {
            if visits.last?.number == visit.number { visits[visits.count - 1] = visit } else { visits.append(visit) }
        }

        mutating func note(_ handoff: Handoff) {
            if handoffs.last?.number == handoff.number { handoffs[handoffs.count - 1] = handoff } else { handoffs.append(handoff) }
        }
    }

    /// An event that moves nothing but the time of the last one.
    mutating func noteTime(_ at: Date) {
        lastEventAt = max(lastEventAt, at)
    }

    mutating func apply(_ event: JourneyEvent, at: Date, catalog: JourneyCatalog, changes: inout Changes) {
        lastEventAt = max(lastEventAt, at)
        switch event {
        case .started:
            changes.note(visit)
        case .milestoneReached, .compensationRecorded:
            break
        case .stageEntered(let entered):
            visit.leftAt = at
            visit.leftFor = entered.stage
            changes.note(visit)
            if stagesVisited.contains(entered.stage) { reworkLoops += 1 }
            stagesVisited.append(entered.stage)
            stage = entered.stage
            department = entered.department
            stageEnteredAt = at
            stageMaxDwellSeconds = catalog.definition(version: definitionVersion)?.stage(entered.stage)?.maxDwell?.seconds
            visit = Visit(journeyId: journeyId, number: visit.number + 1, stage: entered.stage, department: entered.department, owner: owner, enteredAt: at)
            changes.note(visit)
        case .handoffRequested(let requested):
            handoffs += 1
            let ola = catalog.definition(version: definitionVersion)?.transition(from: requested.fromStage, to: requested.toStage)?.handoff?.ola?.seconds
            let handoff = Handoff(
                journeyId: journeyId, number: handoffs, fromStage: requested.fromStage, toStage: requested.toStage,
                fromDepartment: requested.fromDepartment, toDepartment: requested.toDepartment, requestedAt: at, outcome: "pending", olaSeconds: ola)
            pendingHandoff = handoff
            changes.note(handoff)
        case .handoffAccepted(let decided), .handoffRejected(let decided):
            let accepted: Bool
            if case .handoffAccepted = event { accepted = true } else { accepted = false }
            if var handoff = pendingHandoff {
                handoff.decidedAt = at
                handoff.outcome = accepted ? "accepted" : "rejected"
                handoff.decidedBy = decided.by
                handoff.reason = decided.reason
                changes.note(handoff)
                pendingHandoff = nil
            }
            if !accepted { handoffsRejected += 1 }
        case .waitingOnCustomer:
            status = "waiting_on_customer"
            waitingSince = at
        case .resumed:
            status = "active"
            waitingSince = nil
        case .ownerReassigned(let reassigned):
            owner = reassigned.to
            reassignments += 1
        case .completed, .cancelled:
            let cancelled: Bool
            if case .cancelled = event { cancelled = true } else { cancelled = false }
            // A handoff still waiting ends with its journey, decided then (the domain lets only a
            // cancel end a journey with one pending).
            if var handoff = pendingHandoff {
                handoff.decidedAt = at
                handoff.outcome = "cancelled"
                if case .cancelled(let cancel) = event { handoff.reason = cancel.reason }
                changes.note(handoff)
                pendingHandoff = nil
            }
            status = cancelled ? "cancelled" : "completed"
            endedAt = at
            waitingSince = nil
            visit.leftAt = at
            visit.leftFor = status
            changes.note(visit)
        case .feedbackReceived(let feedback):
            switch feedback.kind {
            case .csat: lastCSAT = feedback.score
            case .nps: lastNPS = feedback.score
            }
        case .escalationRaised(let raised):
            escalations += 1
            openEscalations.append("\(raised.level):\(raised.escalationId)")
        case .escalationAcknowledged(let acknowledged):
            openEscalations.removeAll { Self.escalationId(of: $0) == acknowledged.escalationId }
        case .priorityRaised(let raised):
            priority = raised.priority
        case .stalled, .slaThresholdCrossed, .slaBreached:
            // Facts of the clock; `analytics.sla` and `analytics.escalations` show them.
            break
        }
        if Self.isProgress(event) { openEscalations.removeAll() }
    }

    /// Progress resolves every escalation raised before it: a stage entered, a handoff decided,
    /// the journey completed or cancelled (the same rule as `analytics.escalations`).
    static func isProgress(_ event: JourneyEvent) -> Bool {
        switch event {
        case .stageEntered, .handoffAccepted, .handoffRejected, .completed, .cancelled: return true
        default: return false
        }
    }

    private static func escalationId(of open: String) -> Substring {
        open.firstIndex(of: ":").map { open[open.index(after: $0)...] } ?? Substring(open)
    }

    /// The highest level among the open escalations.
    var openEscalationLevel: Int? {
        openEscalations.compactMap { open in open.firstIndex(of: ":").flatMap { Int(open[..<$0]) } }.max()
    }

    static let columns = [
        "journey_id", "journey_type", "definition_version", "customer_id", "tier", "external_process_id", "stage", "department", "owner", "status",
        "started_at", "ended_at", "stage_entered_at", "stage_max_dwell", "waiting_since", "handoffs", "handoffs_rejected", "escalations",
        "reassignments", "rework_loops", "last_csat", "last_nps", "last_event_at", "visit_no", "stages_visited", "priority", "open_escalation_level",
        "open_escalations",
    ]

    /// Writes the row of `journeys`.
    func write(into rows: inout CopyBinary) {
        for text in [journeyId, journeyType, definitionVersion, customerId, tier, externalProcessId, stage, department, owner, status] { rows.append(text) }
        rows.append(startedAt)
        rows.append(endedAt)
        rows.append(stageEnteredAt)
        rows.append(intervalSeconds: stageMaxDwellSeconds)
        rows.append(waitingSince)
        for count in [handoffs, handoffsRejected, escalations, reassignments, reworkLoops, lastCSAT, lastNPS] { rows.append(integer: count) }
        rows.append(lastEventAt)
        rows.append(integer: visit.number)
        rows.append(textArray: stagesVisited)
        rows.append(integer: priority)
        rows.append(integer: openEscalationLevel)
        rows.append(textArray: openEscalations)
        rows.endRow()
    }
}
