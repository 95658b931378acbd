import Foundation

/// The events the process manager records on a journey's stream when a deadline comes due, and
/// those of the people who answer its escalations. Each automated one carries a `DecisionAudit`:
/// what an operator shows when asked why the system did it.
extension JourneyEvent {
    /// The journey stayed past a limit without progress: a stage's `max_dwell` (wall clock, as
    /// `analytics.journeys` counts `stalled`), or a handoff's OLA while the handoff waits.
    public struct Stalled: Sendable, Equatable, Codable {
        public enum Boundary: String, Sendable, Codable {
            case stage
            case handoff
        }
        public var boundary: Boundary
        public var stage: String
        public var department: String
        public var owner: String?
        /// When the stage was entered, or the handoff requested.
        public var since: Date
        /// For a handoff: its number on the journey and the department that must decide.
        public var handoffNumber: Int?
        public var toDepartment: String?
        public var audit: DecisionAudit

        public init(
            boundary: Boundary, stage: String, department: String, owner: String?, since: Date, handoffNumber: Int? = nil, toDepartment: String? = nil,
            audit: DecisionAudit
        ) {
            self.boundary = boundary
            self.stage = stage
            self.department = department
            self.owner = owner
            self.since = since
            self.handoffNumber = handoffNumber
            self.toDepartment = toDepartment
            self.audit = audit
        }
    }

    /// An SLA goal's clock reached 50, 75 or 100 % of its target (100: `SlaBreached`).
    public struct SlaCrossed: Sendable, Equatable, Codable {
        public var goal: String
        public var percent: Int
        /// The instant the share was reached: `analytics.sla.reached_50_at`, `reached_75_at`,
        /// `breach_at`.
        public var reachedAt: Date
        /// The department that held the journey then (for a breach: `analytics.sla.breach_department`).
        public var department: String?
        public var audit: DecisionAudit

        public init(goal: String, percent: Int, reachedAt: Date, department: String?, audit: DecisionAudit) {
            self.goal = goal
            self.percent = percent
            self.reachedAt = reachedAt
            self.department = department
            self.audit = audit
        }
    }

    /// Someone must act: a level of an SLA goal's escalation ladder was reached, a customer's score
    /// was low, owed compensations were not recorded in time.
    public struct EscalationRaised: Sendable, Equatable, Codable {
        public enum Reason: String, Sendable, Codable, CaseIterable {
            case slaLadder = "sla_ladder"
            case lowScore = "low_score"
            case compensationsOverdue = "compensations_overdue"
            /// A rule of `config/rules.yaml` raised it (the audit's `trigger` says which and on what).
            case rule
            /// A notification could not be delivered after its last retry.
            case notificationFailed = "notification_failed"
        }
        /// Acknowledge it by this id (`acknowledgeEscalation`).
        public var escalationId: String
        public var reason: Reason
        /// The goal whose ladder this is, for `slaLadder`.
        public var goal: String?
        /// 1 for the first level of a ladder (and for escalations without one).
        public var level: Int
        public var role: String
        public var action: JourneyDefinition.EscalationAction
        /// Who takes the journey over for `reassign`: the owner routed to the role's queue.
        public var queueOwner: String?
        public var audit: DecisionAudit

        public init(
            escalationId: String, reason: Reason, goal: String?, level: Int, role: String, action: JourneyDefinition.EscalationAction, queueOwner: String?,
            audit: DecisionAudit
        ) {
            self.escalationId = escalationId
            self.reason = reason
            self.goal = goal
            self.level = level
            self.role = role
            self.action = action
            self.queueOwner = queueOwner
            self.audit = audit
        }
    }

    public struct EscalationAcknowledged: Sendable, Equatable, Codable {
        public var escalationId: String
        public var by: String
        public var note: String?

        public init(escalationId: String, by: String, note: String?) {
            self.escalationId = escalationId
            self.by = by
            self.note = note
        }
    }

    /// The journey's priority went up (the `raise-priority` action of a ladder level).
    public struct PriorityRaised: Sendable, Equatable, Codable {
        public var escalationId: String
        /// 0 is normal; each raise adds one.
        public var priority: Int

        public init(escalationId: String, priority: Int) {
            self.escalationId = escalationId
            self.priority = priority
        }
    }
}

/// Why the process manager decided: the rule, the definition version, what it observed of the
/// journey, and when (due, decided, how late, which instance).
public struct DecisionAudit: Sendable, Equatable, Codable {
    public enum Rule: String, Sendable, Codable {
        case stageStall = "stage_stall"
        case handoffOLA = "handoff_ola"
        case slaThreshold = "sla_threshold"
        case escalationLevel = "escalation_level"
        case lowScore = "low_score"
        case compensations
        /// A downstream system had not applied a consent decision in time (`ConsentPropagationOverdue`).
        case consentPropagation = "consent_propagation"
        /// A rule of `config/rules.yaml` reacting to an event (`trigger` names both).
        case reaction
        /// A notification's delivery was given up (`deadlineId` is the notification's id).
        case notificationDelivery = "notification_delivery"
    }
    public var rule: Rule
    /// The deadline that fired: unique per journey, goal, level and cycle; no event repeats one.
    public var deadlineId: String
    public var goal: String?
    public var level: Int?
    public var percent: Int?
    public var definitionVersion: String
    /// What the journey was when the deadline was scheduled (its last event before the due time).
    public var stage: String
    public var department: String
    public var tier: String
    /// Since when the rule counted (stage entered, handoff requested, clock started, journey
    /// cancelled, feedback received).
    public var since: Date
    /// Business seconds the goal's clock had counted at the due time (SLA rules).
    public var businessSecondsElapsed: Int64?
    public var dueAt: Date
    public var decidedAt: Date
    /// `decidedAt - dueAt` in seconds (never negative: a deadline fires at or after its due time).
    public var latenessSeconds: Double
    /// Past the stale horizon when decided (downtime, an imported journey): recorded, but its
    /// escalation acts on nothing and notifies no one.
    public var stale: Bool
    /// The process manager instance that decided.
    public var instance: String
    /// For a rule's decision: the rule, its version, the event it reacted to and the inputs it saw.
    public var trigger: DecisionTrigger?

    public init(
        rule: Rule, deadlineId: String, goal: String? = nil, level: Int? = nil, percent: Int? = nil, definitionVersion: String, stage: String,
        department: String, tier: String, since: Date, businessSecondsElapsed: Int64? = nil, dueAt: Date, decidedAt: Date, stale: Bool,
        instance: String, trigger: DecisionTrigger? = nil
    ) {
        self.rule = rule
        self.deadlineId = deadlineId
        self.goal = goal
        self.level = level
        self.percent = percent
        self.definitionVersion = definitionVersion
        self.stage = stage
        self.department = department
        self.tier = tier
        self.since = since
        self.businessSecondsElapsed = businessSecondsElapsed
        self.dueAt = dueAt
        self.decidedAt = decidedAt
        latenessSeconds = max(0, decidedAt.timeIntervalSince(dueAt))
        self.stale = stale
        self.instance = instance
        self.trigger = trigger
    }
}

/// The event a rule reacted to and what it saw: enough to answer "why did the system do this?"
/// without re-reading the rule file as it stood then.
public struct DecisionTrigger: Sendable, Equatable, Codable {
    public var ruleId: String
    public var ruleVersion: String
    public var eventId: UUID
    public var eventType: String
    public var stream: String
    /// The event's fields and the journey's attributes the rule's conditions and actions read.
    public var inputs: [String: String]

    public init(ruleId: String, ruleVersion: String, eventId: UUID, eventType: String, stream: String, inputs: [String: String]) {
        self.ruleId = ruleId
        self.ruleVersion = ruleVersion
        self.eventId = eventId
        self.eventType = eventType
        self.stream = stream
        self.inputs = inputs
    }
}

extension JourneyDefinition.EscalationAction: Codable {}
