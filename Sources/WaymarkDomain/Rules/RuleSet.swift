import Foundation

/// The reactions operators declare in `config/rules.yaml`: on an event of an integrated system (or
/// a journey's own), under conditions on its fields and on the journey, do some of: notify the
/// customer, raise an escalation, record a compensation owed, request a survey, record the
/// customer's feedback on the journey. Versioned like journey definitions: the `version` string
/// and the file's hash, recorded with every decision.
public struct RuleSet: Sendable, Equatable {
    /// `<version>+<first 16 hex digits of the file's SHA-256>`.
    public var version: String
    /// The file as read, recorded in the log once per version.
    public var text: String
    /// The integration events rules may read, by type.
    public var events: [String: RuleEventSchema]
    public var rules: [Rule]

    public init(version: String, text: String, events: [String: RuleEventSchema], rules: [Rule]) {
        self.version = version
        self.text = text
        self.events = events
        self.rules = rules
    }

    /// The rules an event of `type` on a stream of `category` triggers.
    public func rules(on type: String, category: String) -> [Rule] {
        rules.filter { $0.on == type && ($0.category == nil || $0.category == category) }
    }

    /// Every event type some rule reacts to.
    public var triggerTypes: Set<String> { Set(rules.map(\.on)) }

    public static let fileName = "rules.yaml"
    public static let empty = RuleSet(version: "none", text: "", events: [:], rules: [])
}

/// An event type rules may read: its stream category, where the journey's id is, and its fields.
/// Journey events need no declaration; their journey is their stream's.
public struct RuleEventSchema: Sendable, Equatable {
    public var type: String
    public var category: String?
    /// The field holding the journey's id; nil: the event's correlation id.
    public var journeyField: String?
    public var fields: [String: RuleFieldKind]

    public init(type: String, category: String?, journeyField: String?, fields: [String: RuleFieldKind]) {
        self.type = type
        self.category = category
        self.journeyField = journeyField
        self.fields = fields
    }
}

public enum RuleFieldKind: String, Sendable, Equatable, CaseIterable {
    case text
    case integer
    case number
    case flag
}

/// A value a rule reads or computes.
public enum RuleScalar: Sendable, Equatable, CustomStringConvertible {
    case text(String)
    case number(Double)
    case flag(Bool)

    public var description: String {
        switch self {
        case .text(let text): return text
        case .number(let number): return number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        case .flag(let flag): return String(flag)
        }
    }

    public var number: Double? {
        if case .number(let number) = self { return number }
        return nil
    }
}

/// Something a rule reads: a field of the triggering event, an attribute of the journey, or what
/// the rule's compensation came to.
public enum RuleReference: Sendable, Hashable, CustomStringConvertible {
    case event(String)
    case journey(JourneyAttribute)
    case compensation(CompensationAttribute)

    public enum JourneyAttribute: String, Sendable, CaseIterable {
        case type, stage, department, tier, status, customer
    }

    public enum CompensationAttribute: String, Sendable, CaseIterable {
        /// Whether a compensation is owed (a flag).
        case owed
        /// The amount with its currency (`40 EUR`), empty when none is owed.
        case amount
    }

    public var description: String {
        switch self {
        case .event(let field): return "event.\(field)"
        case .journey(let attribute): return "journey.\(attribute.rawValue)"
        case .compensation(let attribute): return "compensation.\(attribute.rawValue)"
        }
    }
}

/// A condition on a value: `event.delayHours: {at_least: 24}`, `journey.tier: {in: [strategic]}`.
public struct RuleCondition: Sendable, Equatable {
    public enum Test: Sendable, Equatable {
        case equals(RuleScalar)
        case oneOf([RuleScalar])
        case noneOf([RuleScalar])
        case atLeast(Double)
        case atMost(Double)
        case above(Double)
        case below(Double)
    }
    public var reference: RuleReference
    public var test: Test

    public init(reference: RuleReference, test: Test) {
        self.reference = reference
        self.test = test
    }
}

/// Text with `{reference}` placeholders (`Order {event.orderId}`); a text that is one placeholder
/// alone keeps the value's kind (a flag stays a flag).
public struct RuleText: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case literal(String)
        case reference(RuleReference)
    }
    public var parts: [Part]

    public init(parts: [Part]) { self.parts = parts }

    public var references: [RuleReference] {
        parts.compactMap { if case .reference(let reference) = $0 { return reference } else { return nil } }
    }
}

public struct Rule: Sendable, Equatable {
    public var id: String
    public var description: String?
    /// The event type that triggers it.
    public var on: String
    /// Only events on streams of this category; nil: any.
    public var category: String?
    public var conditions: [RuleCondition]
    public var actions: [RuleAction]

    public init(id: String, description: String?, on: String, category: String?, conditions: [RuleCondition], actions: [RuleAction]) {
        self.id = id
        self.description = description
        self.on = on
        self.category = category
        self.conditions = conditions
        self.actions = actions
    }
}

/// One thing a rule does, under conditions of its own besides the rule's.
public struct RuleAction: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case notifyCustomer(CustomerMessage)
        case escalate(role: String)
        case recordCompensation(Compensation)
        /// A survey invitation, at most one per customer within the window (seconds).
        case requestSurvey(CustomerMessage, oncePerCustomerWithinSeconds: Int64)
        /// The customer's answer recorded on the journey as feedback (the process manager's
        /// low-score rule judges it).
        case recordFeedback(kind: RuleText, score: RuleReference, channel: RuleText)
    }
    public var kind: Kind
    public var conditions: [RuleCondition]

    public init(_ kind: Kind, conditions: [RuleCondition] = []) {
        self.kind = kind
        self.conditions = conditions
    }

    /// The action's name as written in the file.
    public var name: String {
        switch kind {
        case .notifyCustomer: return "notify-customer"
        case .escalate: return "escalate"
        case .recordCompensation: return "record-compensation"
        case .requestSurvey: return "request-survey"
        case .recordFeedback: return "record-feedback"
        }
    }

    public struct CustomerMessage: Sendable, Equatable {
        public var template: String
        public var purpose: String
        public var channel: String
        public var variables: [String: RuleText]

        public init(template: String, purpose: String, channel: String, variables: [String: RuleText]) {
            self.template = template
            self.purpose = purpose
            self.channel = channel
            self.variables = variables
        }
    }

    /// `rate` per tier for each started `every` of `per` (or once, without `per`), capped at `atMost`.
    public struct Compensation: Sendable, Equatable {
        public var compensation: String
        public var currency: String
        public var ratesByTier: [String: Int]
        public var per: RuleReference?
        public var every: Double
        public var atMost: Int?

        public init(compensation: String, currency: String, ratesByTier: [String: Int], per: RuleReference?, every: Double, atMost: Int?) {
            self.compensation = compensation
            self.currency = currency
            self.ratesByTier = ratesByTier
            self.per = per
            self.every = every
            self.atMost = atMost
        }
    }
}
