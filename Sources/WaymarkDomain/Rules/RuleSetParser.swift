import Foundation

/// What a rule file may name, from the rest of the configuration: every name in a rule is checked
/// against it at load, so a typo stops the process with file, line and path instead of a rule that
/// never fires or a message that cannot be sent.
public struct RuleVocabulary: Sendable {
    public struct Template: Sendable, Equatable {
        public var customerFacing: Bool
        public var variables: Set<String>

        public init(customerFacing: Bool, variables: Set<String>) {
            self.customerFacing = customerFacing
            self.variables = variables
        }
    }
    public var templates: [String: Template]
    /// Roles an escalation may go to (routed in `process-manager.yaml`).
    public var roles: Set<String>
    /// Consent purposes and the channels each is asked for.
    public var purposes: [String: Set<String>]
    public var catalog: JourneyCatalog
    /// Template variables filled when a message is delivered, which a rule need not supply.
    public var filledAtDelivery: Set<String> = ["customer_name"]

    public init(templates: [String: Template], roles: Set<String>, purposes: [String: Set<String>], catalog: JourneyCatalog) {
        self.templates = templates
        self.roles = roles
        self.purposes = purposes
        self.catalog = catalog
    }
}

extension RuleSet {
    /// Journey events a rule may react to: those people and systems cause. The decisions of the
    /// process manager and of rules are left out, so no rule can trigger itself in a loop.
    public static let journeyTriggers: Set<String> = [
        "JourneyStarted", "StageEntered", "MilestoneReached", "HandoffRequested", "HandoffAccepted", "HandoffRejected", "WaitingOnCustomer",
        "JourneyResumed", "JourneyCompleted", "JourneyCancelled", "CompensationRecorded", "FeedbackReceived",
    ]

    /// Reads `rules.yaml` from the configuration folder; an absent file is no rules.
    public static func load(directory: URL, vocabulary: RuleVocabulary) throws -> RuleSet {
        let file = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: file.path) else { return .empty }
        return try parse(try DefinitionLoader.read(file), file: file.path, vocabulary: vocabulary)
    }

    public static func parse(_ yaml: String, file: String, vocabulary: RuleVocabulary) throws -> RuleSet {
        let root = try YAMLValue.parse(yaml, file: file)
        let fields = try root.mapping(allowed: ["version", "events", "rules"])
        let version = try fields.required("version", in: root).string()
        var events: [String: RuleEventSchema] = [:]
        if let eventsValue = fields["events"] {
            for (type, value) in try eventsValue.namedEntries() { events[type] = try parseSchema(type, value) }
        }
        var parser = RuleParser(events: events, vocabulary: vocabulary)
        var rules: [Rule] = []
        for (id, value) in try fields.required("rules", in: root).namedEntries().sorted(by: { $0.0 < $1.0 }) {
            rules.append(try parser.rule(id, value))
        }
        return RuleSet(version: "\(version)+\(DefinitionLoader.contentHash(yaml))", text: yaml, events: events, rules: rules)
    }

    private static func parseSchema(_ type: String, _ value: YAMLValue) throws -> RuleEventSchema {
        if journeyTriggers.contains(type) { throw value.fail("'\(type)' is a journey event: it needs no declaration") }
        let fields = try value.mapping(allowed: ["category", "journey_field", "fields"])
        var kinds: [String: RuleFieldKind] = [:]
        for (field, kindValue) in try fields.required("fields", in: value).namedEntries() {
            let text = try kindValue.string()
            guard let kind = RuleFieldKind(rawValue: text) else {
                throw kindValue.fail("'\(text)' is not a field kind; expected one of \(RuleFieldKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kinds[field] = kind
        }
        let journeyField = try fields["journey_field"]?.string()
        if let journeyField, kinds[journeyField] != .text {
            throw fields["journey_field"]!.fail("the journey field '\(journeyField)' must be declared under 'fields' as text")
        }
        return RuleEventSchema(type: type, category: try fields["category"]?.name(), journeyField: journeyField, fields: kinds)
    }
}

/// Parses one rule at a time, checking every name it uses.
private struct RuleParser {
    let events: [String: RuleEventSchema]
    let vocabulary: RuleVocabulary
    /// The rule being parsed: its trigger's fields, and whether it records a compensation.
    var fields: [String: RuleFieldKind] = [:]
    var compensates = false

    init(events: [String: RuleEventSchema], vocabulary: RuleVocabulary) {
        self.events = events
        self.vocabulary = vocabulary
    }

    mutating func rule(_ id: String, _ value: YAMLValue) throws -> Rule {
        let fields = try value.mapping(allowed: ["description", "on", "category", "when", "actions"])
        let onValue = try fields.required("on", in: value)
        let on = try onValue.string()
        var category = try fields["category"]?.name()
        if let schema = events[on] {
            self.fields = schema.fields
            if let declared = schema.category, let given = category, given != declared {
                throw fields["category"]!.fail("'\(on)' is declared on category '\(declared)', not '\(given)'")
            }
            category = category ?? schema.category
        } else if RuleSet.journeyTriggers.contains(on) {
            self.fields = [:]
            if let given = category, given != JourneyDecider.category {
                throw fields["category"]!.fail("'\(on)' is a journey event, on category '\(JourneyDecider.category)'")
            }
            category = JourneyDecider.category
        } else {
            let known = (events.keys.sorted() + RuleSet.journeyTriggers.sorted()).joined(separator: ", ")
            throw onValue.fail("no event '\(on)' is declared under 'events', and it is no journey event a rule may react to; known: \(known)")
        }
        let actionValues = try fields.required("actions", in: value).sequence()
        if actionValues.isEmpty { throw fields["actions"]!.fail("a rule needs at least one action") }
        // Messages may say what the compensation came to: it is worked out first.
        let compensations = try actionValues.filter { try $0.namedEntries().first?.0 == "record-compensation" }
        if compensations.count > 1 { throw compensations[1].fail("a rule records at most one compensation") }
        compensates = !compensations.isEmpty
        let checked = try actionValues.map { try self.action($0, trigger: on) }
        return Rule(
            id: try YAMLValue.name(id, at: value), description: try fields["description"]?.string(), on: on, category: category,
            conditions: try conditions(fields["when"]), actions: checked.sorted { Self.order($0) < Self.order($1) })
    }

    private static func order(_ action: RuleAction) -> Int {
        if case .recordCompensation = action.kind { return 0 }
        return 1
    }

    private func action(_ value: YAMLValue, trigger: String) throws -> RuleAction {
        let entries = try value.namedEntries()
        let names = ["notify-customer", "escalate", "record-compensation", "request-survey", "record-feedback"]
        guard entries.count == 1, let (name, body) = entries.first else {
            throw value.fail("an action is one of \(names.joined(separator: ", ")), written as '- <action>: {…}'")
        }
        switch name {
        case "notify-customer":
            let fields = try body.mapping(allowed: ["template", "purpose", "channel", "variables", "when"])
            return RuleAction(.notifyCustomer(try message(fields, body)), conditions: try conditions(fields["when"]))
        case "request-survey":
            let fields = try body.mapping(allowed: ["template", "purpose", "channel", "variables", "when", "once_per_customer_within"])
            let window = try fields.required("once_per_customer_within", in: body).duration().seconds
            return RuleAction(.requestSurvey(try message(fields, body), oncePerCustomerWithinSeconds: window), conditions: try conditions(fields["when"]))
        case "escalate":
            let fields = try body.mapping(allowed: ["role", "when"])
            let roleValue = try fields.required("role", in: body)
            let role = try roleValue.name()
            guard vocabulary.roles.contains(role) else {
                throw roleValue.fail("role '\(role)' has no routing in process-manager.yaml; routed: \(vocabulary.roles.sorted().joined(separator: ", "))")
            }
            return RuleAction(.escalate(role: role), conditions: try conditions(fields["when"]))
        case "record-compensation":
            let fields = try body.mapping(allowed: ["compensation", "currency", "rate_by_tier", "per", "every", "at_most", "when"])
            var rates: [String: Int] = [:]
            let ratesValue = try fields.required("rate_by_tier", in: body)
            for (tier, rate) in try ratesValue.namedEntries() {
                guard vocabulary.catalog.tiers.contains(tier) else {
                    throw rate.fail("tier '\(tier)' is served by no journey definition; tiers: \(vocabulary.catalog.tiers.sorted().joined(separator: ", "))")
                }
                rates[tier] = try rate.integer(in: 0...1_000_000)
            }
            let per = try fields["per"].map { try reference($0, numeric: true) }
            let every = try fields["every"].map { Double(try $0.integer(in: 1...1_000_000)) } ?? 1
            if fields["every"] != nil, per == nil { throw fields["every"]!.fail("'every' needs 'per'") }
            let currency = try fields.required("currency", in: body)
            let code = try currency.string()
            guard code.count == 3, code.allSatisfy({ $0.isUppercase && $0.isLetter }) else {
                throw currency.fail("'\(code)' is not a currency code (three capital letters, such as EUR)")
            }
            return RuleAction(
                .recordCompensation(
                    RuleAction.Compensation(
                        compensation: try fields.required("compensation", in: body).name(), currency: code, ratesByTier: rates, per: per, every: every,
                        atMost: try fields["at_most"]?.integer(in: 0...1_000_000))), conditions: try conditions(fields["when"]))
        case "record-feedback":
            if RuleSet.journeyTriggers.contains(trigger) {
                throw body.fail("record-feedback reacts to integration events only: a journey event would trigger it again")
            }
            let fields = try body.mapping(allowed: ["kind", "score", "channel", "when"])
            return RuleAction(
                .recordFeedback(
                    kind: try text(fields.required("kind", in: body)), score: try reference(fields.required("score", in: body), numeric: true),
                    channel: try text(fields.required("channel", in: body))), conditions: try conditions(fields["when"]))
        default:
            throw body.fail("unknown action '\(name)'; expected one of \(names.joined(separator: ", "))")
        }
    }

    private func message(_ fields: [String: YAMLValue], _ body: YAMLValue) throws -> RuleAction.CustomerMessage {
        let templateValue = try fields.required("template", in: body)
        let template = try templateValue.name()
        guard let declared = vocabulary.templates[template] else {
            throw templateValue.fail("no template '\(template)' in templates.yaml; templates: \(vocabulary.templates.keys.sorted().joined(separator: ", "))")
        }
        guard declared.customerFacing else { throw templateValue.fail("template '\(template)' is for roles, not for customers") }
        let purposeValue = try fields.required("purpose", in: body)
        let purpose = try purposeValue.name()
        guard let channels = vocabulary.purposes[purpose] else {
            throw purposeValue.fail("no consent purpose '\(purpose)' in consent.yaml; purposes: \(vocabulary.purposes.keys.sorted().joined(separator: ", "))")
        }
        let channelValue = try fields.required("channel", in: body)
        let channel = try channelValue.name()
        guard channels.contains(channel) else {
            throw channelValue.fail("consent for '\(purpose)' is asked for \(channels.sorted().joined(separator: ", ")), not '\(channel)'")
        }
        var variables: [String: RuleText] = [:]
        if let variablesValue = fields["variables"] {
            for (name, value) in try variablesValue.namedEntries() {
                guard declared.variables.contains(name) else {
                    throw value.fail("template '\(template)' has no variable '\(name)'; it declares \(declared.variables.sorted().joined(separator: ", "))")
                }
                if vocabulary.filledAtDelivery.contains(name) { throw value.fail("'\(name)' is filled when the message is delivered") }
                variables[name] = try text(value)
            }
        }
        let missing = declared.variables.subtracting(vocabulary.filledAtDelivery).subtracting(variables.keys)
        if !missing.isEmpty {
            throw (fields["variables"] ?? body).fail("template '\(template)' needs \(missing.sorted().joined(separator: ", ")): give each under 'variables'")
        }
        return RuleAction.CustomerMessage(template: template, purpose: purpose, channel: channel, variables: variables)
    }

    private func conditions(_ value: YAMLValue?) throws -> [RuleCondition] {
        guard let value else { return [] }
        var out: [RuleCondition] = []
        for (key, testValue) in try value.namedEntries().sorted(by: { $0.0 < $1.0 }) {
            let reference = try self.reference(key, at: testValue, numeric: false)
            let tests = try testValue.mapping(allowed: ["equals", "in", "not_in", "at_least", "at_most", "above", "below"])
            guard !tests.isEmpty else { throw testValue.fail("a condition needs a test: equals, in, not_in, at_least, at_most, above or below") }
            for (name, operand) in tests.sorted(by: { $0.key < $1.key }) {
                let test: RuleCondition.Test
                switch name {
                case "equals": test = .equals(try scalar(operand, for: reference))
                case "in": test = .oneOf(try operand.sequence().map { try scalar($0, for: reference) })
                case "not_in": test = .noneOf(try operand.sequence().map { try scalar($0, for: reference) })
                default:
                    guard kind(of: reference) == .number else { throw operand.fail("'\(name)' compares numbers; \(reference) is not one") }
                    guard let number = Double(try operand.string()) else { throw operand.fail("expected a number") }
                    switch name {
                    case "at_least": test = .atLeast(number)
                    case "at_most": test = .atMost(number)
                    case "above": test = .above(number)
                    default: test = .below(number)
                    }
                }
                out.append(RuleCondition(reference: reference, test: test))
            }
        }
        return out
    }

    private enum ValueKind { case text, number, flag }

    private func kind(of reference: RuleReference) -> ValueKind {
        switch reference {
        case .event(let field):
            switch fields[field] {
            case .integer, .number: return .number
            case .flag: return .flag
            default: return .text
            }
        case .journey: return .text
        case .compensation(let attribute): return attribute == .owed ? .flag : .text
        }
    }

    /// A condition's operand, checked against the vocabulary where it names one (a tier, a type).
    private func scalar(_ value: YAMLValue, for reference: RuleReference) throws -> RuleScalar {
        let text = try value.string()
        switch kind(of: reference) {
        case .number:
            guard let number = Double(text) else { throw value.fail("\(reference) is a number; '\(text)' is not") }
            return .number(number)
        case .flag:
            return .flag(try value.bool())
        case .text:
            if case .journey(let attribute) = reference, let known = self.known(attribute), !known.contains(text) {
                throw value.fail("no \(attribute.rawValue) '\(text)' in the journey definitions; known: \(known.sorted().joined(separator: ", "))")
            }
            return .text(text)
        }
    }

    private func known(_ attribute: RuleReference.JourneyAttribute) -> Set<String>? {
        let definitions = vocabulary.catalog.versions
        switch attribute {
        case .type: return Set(definitions.map(\.journeyType))
        case .tier: return vocabulary.catalog.tiers
        case .stage: return Set(definitions.flatMap { $0.stages.map(\.id) })
        case .department: return Set(definitions.flatMap { $0.stages.map(\.department) })
        case .status: return Set(JourneyState.Status.allCases.map(\.rawValue))
        case .customer: return nil
        }
    }

    private func reference(_ value: YAMLValue, numeric: Bool) throws -> RuleReference {
        try reference(try value.string(), at: value, numeric: numeric)
    }

    private func reference(_ text: String, at value: YAMLValue, numeric: Bool) throws -> RuleReference {
        let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
        let reference: RuleReference
        switch (parts.first, parts.count) {
        case ("event", 2):
            guard fields[parts[1]] != nil else {
                let declared = fields.keys.sorted().joined(separator: ", ")
                throw value.fail("the triggering event has no declared field '\(parts[1])'\(declared.isEmpty ? "" : "; fields: \(declared)")")
            }
            reference = .event(parts[1])
        case ("journey", 2):
            guard let attribute = RuleReference.JourneyAttribute(rawValue: parts[1]) else {
                throw value.fail(
                    "a journey has no attribute '\(parts[1])'; attributes: \(RuleReference.JourneyAttribute.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            reference = .journey(attribute)
        case ("compensation", 2):
            guard let attribute = RuleReference.CompensationAttribute(rawValue: parts[1]) else {
                throw value.fail("a compensation has 'owed' and 'amount', not '\(parts[1])'")
            }
            guard compensates else { throw value.fail("'\(text)' needs a record-compensation action in the rule") }
            reference = .compensation(attribute)
        default:
            throw value.fail("'\(text)' is not a reference: write event.<field>, journey.<attribute> or compensation.<owed|amount>")
        }
        if numeric, kind(of: reference) != .number { throw value.fail("\(reference) is not a number") }
        return reference
    }

    /// `{reference}` placeholders in text; `{{` and `}}` are literal braces.
    private func text(_ value: YAMLValue) throws -> RuleText {
        let text = try value.string()
        var parts: [RuleText.Part] = []
        var literal = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "{" || character == "}", next < text.endIndex, text[next] == character {
                literal.append(character)
                index = text.index(after: next)
            } else if character == "{" {
                guard let close = text[next...].firstIndex(of: "}") else { throw value.fail("a '{' is not closed in '\(text)'") }
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = ""
                parts.append(.reference(try reference(String(text[next..<close]), at: value, numeric: false)))
                index = text.index(after: close)
            } else if character == "}" {
                throw value.fail("a '}' is not opened in '\(text)'; write '}}' for a brace")
            } else {
                literal.append(character)
                index = next
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return RuleText(parts: parts)
    }
}
