import Foundation
import WaymarkErrors

/// What a rule reads: the triggering event's declared fields and the journey as it stands.
public struct RuleInputs: Sendable, Equatable {
    public var event: [String: RuleScalar]
    public var journey: [RuleReference.JourneyAttribute: String]

    public init(event: [String: RuleScalar], journey: [RuleReference.JourneyAttribute: String]) {
        self.event = event
        self.journey = journey
    }

    /// The declared fields of an event's JSON body. A field absent, null or of another kind is an
    /// error naming it: the rule cannot judge the event.
    public static func fields(of data: String, schema: RuleEventSchema) throws -> [String: RuleScalar] {
        guard let object = try? JSONDecoder().decode([String: JSONScalar].self, from: Data(data.utf8)) else {
            throw RuleInputError("the \(schema.type) event's body is not a JSON object")
        }
        var out: [String: RuleScalar] = [:]
        for (field, kind) in schema.fields.sorted(by: { $0.key < $1.key }) {
            guard let value = object[field], value != .null else { throw RuleInputError("the \(schema.type) event has no field '\(field)'") }
            switch (kind, value) {
            case (.text, .text(let text)): out[field] = .text(text)
            case (.flag, .flag(let flag)): out[field] = .flag(flag)
            case (.integer, .number(let number)) where number.rounded() == number: out[field] = .number(number)
            case (.number, .number(let number)): out[field] = .number(number)
            default: throw RuleInputError("the \(schema.type) event's field '\(field)' is not \(kind == .integer ? "an" : "a") \(kind.rawValue)")
            }
        }
        return out
    }
}

/// A JSON value as far as a rule reads one; objects and arrays are `other`.
private enum JSONScalar: Decodable, Equatable {
    case text(String)
    case number(Double)
    case flag(Bool)
    case null
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .flag(flag)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .other
        }
    }
}

/// An event a rule cannot judge (a declared field missing or of another kind): the rule records
/// nothing for it, and says why in `rx_fired.skipped`.
public struct RuleInputError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidInput = "rule_input_invalid"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The triggering event lacks a field its declaration in rules.yaml names, or has it of another kind.
        public static let invalidInput = Code(.invalidInput)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        public var kind: ErrorKind { .invalidInput }
    }

    public let code = Code.invalidInput
    public var message: String

    public init(_ message: String) { self.message = message }
}

/// What a rule decided for one event: the actions whose conditions held, with their values worked
/// out, and every input it read (for the audit).
public struct RuleDecision: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case notifyCustomer(Message)
        case requestSurvey(Message, windowSeconds: Int64)
        case escalate(role: String)
        case recordCompensation(OwedCompensation)
        case recordFeedback(kind: String, score: Int, channel: String)
    }

    public struct Message: Sendable, Equatable {
        public var template: String
        public var purpose: String
        public var channel: String
        public var variables: [String: NotificationValue]
    }

    public struct OwedCompensation: Sendable, Equatable {
        public var compensation: String
        public var amount: Int
        public var currency: String
    }

    /// Each action with its index in the rule (which derives its ids).
    public var actions: [(index: Int, action: Action)]
    public var inputs: [String: String]

    public static func == (lhs: RuleDecision, rhs: RuleDecision) -> Bool {
        lhs.inputs == rhs.inputs && lhs.actions.map(\.index) == rhs.actions.map(\.index) && lhs.actions.map(\.action) == rhs.actions.map(\.action)
    }
}

extension Rule {
    /// The rule's decision on `inputs`; nil when its own conditions do not hold. Actions whose
    /// conditions do not hold are left out (a decision may have none).
    public func decide(_ inputs: RuleInputs) -> RuleDecision? {
        var reader = RuleReader(inputs: inputs)
        guard conditions.allSatisfy({ reader.holds($0) }) else { return nil }
        var actions: [(index: Int, action: RuleDecision.Action)] = []
        for (index, action) in self.actions.enumerated() where action.conditions.allSatisfy({ reader.holds($0) }) {
            switch action.kind {
            case .recordCompensation(let rule):
                guard let owed = reader.compensation(rule) else { continue }
                actions.append((index, .recordCompensation(owed)))
            case .notifyCustomer(let message):
                actions.append((index, .notifyCustomer(reader.message(message))))
            case .requestSurvey(let message, let window):
                actions.append((index, .requestSurvey(reader.message(message), windowSeconds: window)))
            case .escalate(let role):
                actions.append((index, .escalate(role: role)))
            case .recordFeedback(let kind, let score, let channel):
                guard let number = reader.value(score)?.number else { continue }
                actions.append((index, .recordFeedback(kind: reader.text(kind), score: Int(number.rounded()), channel: reader.text(channel))))
            }
        }
        return RuleDecision(actions: actions, inputs: reader.read)
    }
}

/// Reads references for one decision and remembers each one read.
private struct RuleReader {
    let inputs: RuleInputs
    var owed: RuleDecision.OwedCompensation?
    var read: [String: String] = [:]

    init(inputs: RuleInputs) { self.inputs = inputs }

    mutating func value(_ reference: RuleReference) -> RuleScalar? {
        let value: RuleScalar?
        switch reference {
        case .event(let field): value = inputs.event[field]
        case .journey(let attribute): value = inputs.journey[attribute].map(RuleScalar.text)
        case .compensation(.owed): value = .flag(owed != nil)
        case .compensation(.amount): value = .text(owed.map { "\($0.amount) \($0.currency)" } ?? "")
        }
        read[reference.description] = value?.description ?? ""
        return value
    }

    mutating func holds(_ condition: RuleCondition) -> Bool {
        guard let value = value(condition.reference) else { return false }
        switch condition.test {
        case .equals(let expected): return value == expected
        case .oneOf(let values): return values.contains(value)
        case .noneOf(let values): return !values.contains(value)
        case .atLeast(let bound): return value.number.map { $0 >= bound } ?? false
        case .atMost(let bound): return value.number.map { $0 <= bound } ?? false
        case .above(let bound): return value.number.map { $0 > bound } ?? false
        case .below(let bound): return value.number.map { $0 < bound } ?? false
        }
    }

    /// The rate of the journey's tier for each started `every` of `per`, capped; nil when nothing
    /// is owed (no rate for the tier, nothing to count).
    mutating func compensation(_ rule: RuleAction.Compensation) -> RuleDecision.OwedCompensation? {
        guard let tier = value(.journey(.tier))?.description, let rate = rule.ratesByTier[tier] else { return nil }
        var units = 1.0
        if let per = rule.per {
            guard let count = value(per)?.number, count > 0 else { return nil }
            units = (count / rule.every).rounded(.up)
        }
        let amount = min(Double(rate) * units, Double(rule.atMost ?? Int.max))
        guard amount > 0 else { return nil }
        owed = RuleDecision.OwedCompensation(compensation: rule.compensation, amount: Int(amount), currency: rule.currency)
        return owed
    }

    mutating func text(_ text: RuleText) -> String {
        text.parts.map { part in
            switch part {
            case .literal(let literal): return literal
            case .reference(let reference): return value(reference)?.description ?? ""
            }
        }.joined()
    }

    mutating func message(_ message: RuleAction.CustomerMessage) -> RuleDecision.Message {
        var variables: [String: NotificationValue] = [:]
        for (name, text) in message.variables.sorted(by: { $0.key < $1.key }) {
            if text.parts.count == 1, case .reference(let reference) = text.parts[0], case .flag(let flag)? = value(reference) {
                variables[name] = .flag(flag)
            } else {
                variables[name] = .text(self.text(text))
            }
        }
        return RuleDecision.Message(template: message.template, purpose: message.purpose, channel: message.channel, variables: variables)
    }
}
