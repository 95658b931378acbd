import Foundation

/// What rules record on a journey's stream besides the escalations, notifications and feedback
/// they cause: that a rule fired (first, with what it saw and what each action came to), and a
/// compensation it found owed.
public enum ReactionEvent: DomainEvent, Equatable {
    case ruleFired(RuleFired)
    case compensationOwed(CompensationOwed)

    /// A rule reacted to an event: the audit of the decision. The events its actions recorded
    /// follow it in the same append, each naming it as their cause.
    public struct RuleFired: Sendable, Equatable, Codable {
        public struct Outcome: Sendable, Equatable, Codable {
            /// The action as written (`notify-customer`, `escalate`, …).
            public var action: String
            /// `recorded`, `requested`, `suppressed: withdrawn`, `skipped: …`, `rejected: …`.
            public var outcome: String
            /// The event the action recorded, if any.
            public var eventId: UUID?

            public init(action: String, outcome: String, eventId: UUID?) {
                self.action = action
                self.outcome = outcome
                self.eventId = eventId
            }
        }
        public var trigger: DecisionTrigger
        public var outcomes: [Outcome]
        /// The journey as the rule saw it.
        public var journey: NotificationEvent.JourneyContext
        public var decidedAt: Date
        public var instance: String

        public init(trigger: DecisionTrigger, outcomes: [Outcome], journey: NotificationEvent.JourneyContext, decidedAt: Date, instance: String) {
            self.trigger = trigger
            self.outcomes = outcomes
            self.journey = journey
            self.decidedAt = decidedAt
            self.instance = instance
        }
    }

    /// A compensation the journey's customer is owed (a service credit), as a rule worked it out.
    public struct CompensationOwed: Sendable, Equatable, Codable {
        public var compensationId: String
        public var compensation: String
        /// Whole units of `currency`.
        public var amount: Int
        public var currency: String
        public var tier: String
        public var ruleId: String
        public var ruleVersion: String
        public var triggerEventId: UUID
        public var decidedAt: Date

        public init(
            compensationId: String, compensation: String, amount: Int, currency: String, tier: String, ruleId: String, ruleVersion: String,
            triggerEventId: UUID, decidedAt: Date
        ) {
            self.compensationId = compensationId
            self.compensation = compensation
            self.amount = amount
            self.currency = currency
            self.tier = tier
            self.ruleId = ruleId
            self.ruleVersion = ruleVersion
            self.triggerEventId = triggerEventId
            self.decidedAt = decidedAt
        }
    }

    public var type: String {
        switch self {
        case .ruleFired: return "RuleFired"
        case .compensationOwed: return "CompensationOwed"
        }
    }

    public func encode(with codec: EventCodec, subject: String?) throws -> String {
        switch self {
        case .ruleFired(let payload): return try codec.encode(payload, subject: subject)
        case .compensationOwed(let payload): return try codec.encode(payload, subject: subject)
        }
    }

    public static let storedTypes: Set<String> = ["RuleFired", "CompensationOwed"]

    public static func decode(type: String, data: String, codec: EventCodec) throws -> ReactionEvent? {
        switch type {
        case "RuleFired": return .ruleFired(try codec.decode(RuleFired.self, from: data))
        case "CompensationOwed": return .compensationOwed(try codec.decode(CompensationOwed.self, from: data))
        default: return nil
        }
    }

    /// The id of an event a rule records for the event `trigger`: derived from both (and the
    /// action's index), so a rule fires at most once per triggering event under any retry.
    public static func eventId(rule: String, trigger: UUID, part: String) -> UUID {
        DerivedUUID.of(Data("rule:\(rule):\(trigger.uuidString.lowercased()):\(part)".utf8))
    }
}

/// The rule file as it stood, recorded once per version on `rules` (the audit of which rules were
/// in force when).
public struct RulesVersionRecorded: Sendable, Equatable, Codable {
    public var version: String
    public var text: String

    public init(version: String, text: String) {
        self.version = version
        self.text = text
    }

    public static let type = "RulesVersionRecorded"
    public static let stream = "rules-versions"

    public var eventId: UUID { DerivedUUID.of(Data("rules-version:\(version)".utf8)) }
}
