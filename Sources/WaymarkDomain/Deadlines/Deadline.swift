import Crypto
import Foundation

/// A moment at which the process manager must decide something about a journey, derived from its
/// log by `JourneyWatch`: what fires, when, and what the journey was when it was scheduled.
///
/// `id` names the rule's occasion (journey, rule, goal or stage visit, level or share) and never
/// its due time: a pause or a tier change schedules the same id anew, and once an event carrying
/// the id is in the log the id counts as fired for good.
public struct Deadline: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case stageStall = "stage_stall"
        case handoffOLA = "handoff_ola"
        case slaThreshold = "sla_threshold"
        case escalationLevel = "escalation_level"
        case lowScore = "low_score"
        case compensations
    }

    public var id: String
    public var kind: Kind
    public var journeyId: String
    /// Nil in rows scheduled before notifications existed.
    public var journeyType: String?
    /// Not before: fires at or after this instant.
    public var dueAt: Date
    public var goal: String?
    /// The ladder level (1 for the first), for `escalationLevel`.
    public var level: Int?
    /// 50, 75 or 100, for `slaThreshold`.
    public var percent: Int?
    /// What the journey was when scheduled.
    public var definitionVersion: String
    public var stage: String
    public var department: String
    public var owner: String?
    public var tier: String
    public var since: Date
    public var businessSecondsElapsed: Int64?
    /// For a handoff OLA: which handoff and the department that must decide.
    public var handoffNumber: Int?
    public var toDepartment: String?
    /// For an escalation: who is told or takes over, and what is done.
    public var role: String?
    public var action: JourneyDefinition.EscalationAction?

    /// The id of the `index`th event its firing records: the same on every attempt, so a firing
    /// repeated after a crash is the store's idempotent retry, not a second event.
    public func eventId(_ index: Int) -> UUID { Self.eventId(deadlineId: id, index) }

    /// The id of the `index`th event the firing of deadline `deadlineId` records (journey or
    /// consent deadlines alike).
    public static func eventId(deadlineId id: String, _ index: Int) -> UUID {
        let digest = Array(SHA256.hash(data: Data("waymark-deadline:\(id):\(index)".utf8)))
        var bytes = Array(digest.prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8: name-based, application-defined
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 9562 variant
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13],
                bytes[14], bytes[15]
            ))
    }

    /// The events that record this deadline firing at `now` on a journey whose priority is
    /// `priority`. A stale one (overdue past `settings.staleAfterSeconds`) records its facts and
    /// escalations but acts on nothing: no reassignment, no priority.
    public func events(firedAt now: Date, instance: String, priority: Int, settings: ProcessManagerSettings) -> [JourneyEvent] {
        let stale = now.timeIntervalSince(dueAt) > Double(settings.staleAfterSeconds)
        let audit = DecisionAudit(
            rule: rule, deadlineId: id, goal: goal, level: level, percent: percent, definitionVersion: definitionVersion, stage: stage,
            department: department, tier: tier, since: since, businessSecondsElapsed: businessSecondsElapsed, dueAt: dueAt, decidedAt: max(now, dueAt),
            stale: stale, instance: instance)
        switch kind {
        case .stageStall:
            return [.stalled(.init(boundary: .stage, stage: stage, department: department, owner: owner, since: since, audit: audit))]
        case .handoffOLA:
            return [
                .stalled(
                    .init(
                        boundary: .handoff, stage: stage, department: department, owner: owner, since: since, handoffNumber: handoffNumber,
                        toDepartment: toDepartment, audit: audit))
            ]
        case .slaThreshold:
            let crossed = JourneyEvent.SlaCrossed(goal: goal ?? "", percent: percent ?? 100, reachedAt: dueAt, department: department, audit: audit)
            return [percent == 100 ? .slaBreached(crossed) : .slaThresholdCrossed(crossed)]
        case .escalationLevel, .lowScore, .compensations:
            let reason: JourneyEvent.EscalationRaised.Reason =
                kind == .escalationLevel ? .slaLadder : kind == .lowScore ? .lowScore : .compensationsOverdue
            let role = role ?? ""
            let action = action ?? .notify
            let queueOwner = settings.routing[role]
            var events: [JourneyEvent] = [
                .escalationRaised(
                    .init(escalationId: id, reason: reason, goal: goal, level: level ?? 1, role: role, action: action, queueOwner: queueOwner, audit: audit))
            ]
            guard !stale else { return events }
            switch action {
            case .notify:
                break
            case .reassign:
                if let queueOwner, queueOwner != owner { events.append(.ownerReassigned(.init(from: owner, to: queueOwner))) }
            case .raisePriority:
                events.append(.priorityRaised(.init(escalationId: id, priority: priority + 1)))
            }
            return events
        }
    }

    private var rule: DecisionAudit.Rule {
        switch kind {
        case .stageStall: return .stageStall
        case .handoffOLA: return .handoffOLA
        case .slaThreshold: return .slaThreshold
        case .escalationLevel: return .escalationLevel
        case .lowScore: return .lowScore
        case .compensations: return .compensations
        }
    }
}
