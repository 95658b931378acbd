import Foundation
import Testing
import WaymarkDefinitions
import WaymarkDomain
import WaymarkNotifications
import WaymarkReactions

let configDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config")

/// The shipped configuration, as the process manager's role loads it.
struct ShippedConfiguration {
    let catalog: JourneyCatalog
    let settings: ProcessManagerSettings
    let templates: NotificationTemplates
    let rules: RuleSet

    init() throws {
        catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        settings = try ProcessManagerSettings.load(directory: configDirectory, catalog: catalog)
        templates = try NotificationTemplates.load(directory: configDirectory.appendingPathComponent("templates"))
        rules = try RuleSet.load(directory: configDirectory, templates: templates, settings: settings, catalog: catalog)
    }

    var vocabulary: RuleVocabulary { RuleVocabulary(templates: templates, settings: settings, catalog: catalog) }

    /// The shipped rules.yaml with `old` replaced by `new`, parsed.
    func parseEdited(_ old: String, _ new: String) throws -> RuleSet {
        let text = try String(contentsOf: configDirectory.appendingPathComponent("rules.yaml"), encoding: .utf8)
        #expect(text.contains(old), "the shipped file has no '\(old)'")
        return try RuleSet.parse(text.replacingOccurrences(of: old, with: new), file: "rules.yaml", vocabulary: vocabulary)
    }
}

@Suite("Rules: loading config/rules.yaml")
struct RuleSetLoadTests {
    @Test("the shipped rules load: versioned by their text, each on its event and category, compensation worked out before the messages")
    func shipped() throws {
        let shipped = try ShippedConfiguration()
        let rules = shipped.rules
        #expect(rules.version.hasPrefix("2026.12+") && rules.version.count == "2026.12+".count + 16)
        #expect(rules.rules.map(\.id) == ["csat-survey-on-case-closed", "shipment-delay-recovery", "survey-answer-to-feedback"])
        #expect(rules.rules(on: "ShipmentDelayed", category: "shipment").map(\.id) == ["shipment-delay-recovery"])
        #expect(rules.rules(on: "ShipmentDelayed", category: "erp").isEmpty)
        let recovery = rules.rules[1]
        #expect(recovery.actions.map(\.name) == ["record-compensation", "notify-customer", "escalate"])
        // A changed comment is a new version, like a journey definition.
        let edited = try shipped.parseEdited("# Proactive service recovery", "# Proactive recovery")
        #expect(edited.version != rules.version && edited.version.hasPrefix("2026.12+"))
    }

    @Test(
        "a rule naming what the configuration lacks is refused with file, line and path",
        arguments: [
            (
                "template: shipment-delay-apology", "template: shipment-delay-sorry", "rules.shipment-delay-recovery.actions[1].notify-customer.template",
                "no template 'shipment-delay-sorry'"
            ),
            (
                "role: fulfilment-lead", "role: fulfilment-boss", "rules.shipment-delay-recovery.actions[2].escalate.role",
                "role 'fulfilment-boss' has no routing"
            ),
            (
                "purpose: service-updates", "purpose: service-update", "rules.shipment-delay-recovery.actions[1].notify-customer.purpose",
                "no consent purpose 'service-update'"
            ),
            (
                "purpose: product-research\n          channel: email", "purpose: product-research\n          channel: sms",
                "rules.csat-survey-on-case-closed.actions[0].request-survey.channel", "consent for 'product-research' is asked for email, not 'sms'"
            ),
            (
                "per: event.delayHours", "per: event.delayHour", "rules.shipment-delay-recovery.actions[0].record-compensation.per",
                "no declared field 'delayHour'"
            ),
            (
                "rate_by_tier: {strategic: 50", "rate_by_tier: {platinum: 50",
                "rules.shipment-delay-recovery.actions[0].record-compensation.rate_by_tier.platinum",
                "tier 'platinum' is served by no journey definition"
            ),
            (
                "journey.type: {equals: order-to-cash}", "journey.type: {equals: order-to-kash}", "rules.shipment-delay-recovery.when.journey.type.equals",
                "no type 'order-to-kash'"
            ),
            ("on: ShipmentDelayed", "on: ShipmentLate", "rules.shipment-delay-recovery.on", "no event 'ShipmentLate' is declared"),
            (
                "order_id: \"{event.orderId}\"", "order_no: \"{event.orderId}\"", "rules.shipment-delay-recovery.actions[1].notify-customer.variables.order_no",
                "template 'shipment-delay-apology' has no variable 'order_no'"
            ),
            (
                "            expires_in_days: \"7\"\n", "", "rules.csat-survey-on-case-closed.actions[0].request-survey.variables",
                "template 'csat-survey-invitation' needs expires_in_days"
            ),
            (
                "event.delayHours: {above: 0}", "event.orderId: {above: 0}", "rules.shipment-delay-recovery.when.event.orderId.above",
                "'above' compares numbers; event.orderId is not one"
            ),
            (
                "credit_amount: \"{compensation.amount}\"", "credit_amount: \"{compensation.amount\"",
                "rules.shipment-delay-recovery.actions[1].notify-customer.variables.credit_amount",
                "a '{' is not closed"
            ),
        ])
    func refused(old: String, new: String, path: String, message: String) throws {
        let shipped = try ShippedConfiguration()
        do {
            _ = try shipped.parseEdited(old, new)
            Issue.record("'\(new)' was accepted")
        } catch let error as DefinitionError {
            #expect(error.file == "rules.yaml")
            #expect(error.path == path)
            #expect(error.line != nil)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test("compensation.* without a record-compensation action, and record-feedback on a journey event, are refused")
    func refusedShapes() throws {
        let shipped = try ShippedConfiguration()
        let withoutCredit = """
            version: "1"
            events:
              ShipmentDelayed: {category: shipment, journey_field: journeyId, fields: {journeyId: text, delayHours: integer}}
            rules:
              r:
                on: ShipmentDelayed
                actions:
                  - escalate: {role: fulfilment-lead, when: {compensation.owed: {equals: true}}}
            """
        #expect(throws: DefinitionError.self) { try RuleSet.parse(withoutCredit, file: "r.yaml", vocabulary: shipped.vocabulary) }
        let loop = """
            version: "1"
            rules:
              r:
                on: FeedbackReceived
                actions:
                  - record-feedback: {kind: csat, score: event.score, channel: email}
            """
        #expect(throws: DefinitionError.self) { try RuleSet.parse(loop, file: "r.yaml", vocabulary: shipped.vocabulary) }
    }

    @Test("the recovery rule's decision: credit by tier per started day, capped; the message says it; escalation only for strategic and enterprise")
    func decisions() throws {
        let rule = try ShippedConfiguration().rules.rules.first { $0.id == "shipment-delay-recovery" }!
        func decide(tier: String, hours: Double, status: String = "active") -> RuleDecision? {
            rule.decide(
                RuleInputs(
                    event: ["journeyId": .text("j"), "orderId": .text("SO-1"), "delayHours": .number(hours), "newDeliveryDate": .text("2026-12-20")],
                    journey: [.type: "order-to-cash", .stage: "fulfilment", .department: "fulfilment", .tier: tier, .status: status, .customer: "c"]))
        }
        func credit(_ decision: RuleDecision?) -> String? {
            decision?.actions.compactMap { if case .recordCompensation(let owed) = $0.action { return "\(owed.amount) \(owed.currency)" } else { return nil } }
                .first
        }
        func message(_ decision: RuleDecision?) -> [String: NotificationValue]? {
            decision?.actions.compactMap { if case .notifyCustomer(let message) = $0.action { return message.variables } else { return nil } }.first
        }
        // 49 h: three started days at 50 for strategic; 48 h: two; 200 h: nine, capped at 200.
        #expect(credit(decide(tier: "strategic", hours: 49)) == "150 EUR")
        #expect(credit(decide(tier: "strategic", hours: 48)) == "100 EUR")
        #expect(credit(decide(tier: "strategic", hours: 200)) == "200 EUR")
        #expect(credit(decide(tier: "enterprise", hours: 72)) == "75 EUR")
        #expect(credit(decide(tier: "strategic", hours: 47)) == nil)
        #expect(credit(decide(tier: "standard", hours: 100)) == nil)
        #expect(message(decide(tier: "strategic", hours: 49))?["credit_owed"] == .flag(true))
        #expect(message(decide(tier: "strategic", hours: 49))?["credit_amount"] == .text("150 EUR"))
        #expect(message(decide(tier: "standard", hours: 100))?["credit_owed"] == .flag(false))
        #expect(message(decide(tier: "standard", hours: 100))?["delay_hours"] == .text("100"))
        #expect(decide(tier: "standard", hours: 100)?.actions.map(\.index) == [1])
        #expect(decide(tier: "enterprise", hours: 10)?.actions.map(\.index) == [1, 2])
        #expect(decide(tier: "strategic", hours: 0) == nil)
        #expect(decide(tier: "strategic", hours: 30, status: "completed") == nil)
        #expect(decide(tier: "strategic", hours: 49)?.inputs["event.delayHours"] == "49")
    }

    @Test("an event's declared fields: kinds checked, a missing or mistyped one named")
    func fields() throws {
        let schema = RuleEventSchema(type: "E", category: nil, journeyField: nil, fields: ["a": .text, "n": .integer, "f": .flag, "x": .number])
        #expect(
            try RuleInputs.fields(of: #"{"a":"t","n":3,"f":true,"x":1.5,"extra":{}}"#, schema: schema) == [
                "a": .text("t"), "n": .number(3), "f": .flag(true), "x": .number(1.5),
            ])
        #expect(throws: RuleInputError("the E event has no field 'n'")) { try RuleInputs.fields(of: #"{"a":"t","f":true,"x":1}"#, schema: schema) }
        #expect(throws: RuleInputError("the E event's field 'n' is not an integer")) {
            try RuleInputs.fields(of: #"{"a":"t","n":"soon","f":true,"x":1}"#, schema: schema)
        }
        #expect(throws: RuleInputError("the E event's field 'n' is not an integer")) {
            try RuleInputs.fields(of: #"{"a":"t","n":2.5,"f":true,"x":1}"#, schema: schema)
        }
        #expect(throws: RuleInputError("the E event's field 'f' is not a flag")) { try RuleInputs.fields(of: #"{"a":"t","n":1,"f":1,"x":1}"#, schema: schema) }
        #expect(throws: RuleInputError("the E event's body is not a JSON object")) { try RuleInputs.fields(of: "[1]", schema: schema) }
    }
}
