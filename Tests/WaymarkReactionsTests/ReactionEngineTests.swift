import Foundation
import Testing
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkReactions
import WaymarkTesting

@Suite("Rules engine: the shipped rules on integration events")
struct ReactionEngineTests {
    @Test(
        "a delayed shipment on a strategic order: a credit owed by the delay, the customer told of it, fulfilment escalated and told; one audit naming rule, version and inputs"
    )
    func strategicDelay() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.start("o-1")
        var trigger = UUID()
        try await fixture.runUntilCaughtUp([try fixture.engine()]) { trigger = try await fixture.delay("o-1", order: "SO-1", hours: 72) }
        #expect(
            try await fixture.types("o-1") == ["RuleFired", "CompensationOwed", "NotificationRequested", "EscalationRaised", "NotificationRequested"])
        let reactions = try await fixture.reactions("o-1")
        guard case .ruleFired(let fired) = reactions[0], case .compensationOwed(let owed) = reactions[1] else {
            Issue.record("no RuleFired and CompensationOwed: \(reactions)")
            return
        }
        #expect(fired.trigger.ruleId == "shipment-delay-recovery" && fired.trigger.ruleVersion == fixture.shipped.rules.version)
        #expect(fired.trigger.eventId == trigger && fired.trigger.eventType == "ShipmentDelayed" && fired.trigger.stream == "shipment-SO-1")
        #expect(fired.trigger.inputs["event.delayHours"] == "72" && fired.trigger.inputs["journey.tier"] == "strategic")
        #expect(fired.outcomes.map(\.action) == ["record-compensation", "notify-customer", "escalate"])
        #expect(fired.outcomes.map(\.outcome) == ["recorded: 150 EUR", "requested", "raised"])
        #expect(owed.amount == 150 && owed.currency == "EUR" && owed.compensation == "service-credit" && owed.tier == "strategic")

        let notifications = try await fixture.notifications("o-1")
        guard case .requested(let customer) = notifications[0], case .requested(let role) = notifications[1] else {
            Issue.record("two requests expected: \(notifications)")
            return
        }
        #expect(customer.recipient == .customer("c-o-1") && customer.template == "shipment-delay-apology")
        #expect(customer.purpose == "service-updates" && customer.contactChannel == "email")
        #expect(
            customer.variables == [
                "order_id": .text("SO-1"), "delay_hours": .text("72"), "new_delivery_date": .text("2026-12-20"), "credit_owed": .flag(true),
                "credit_amount": .text("150 EUR"),
            ])
        #expect(customer.cause.kind == "rule" && customer.cause.reference == "shipment-delay-recovery@\(fixture.shipped.rules.version)")
        #expect(customer.cause.eventId == (try await fixture.recorded("o-1"))[0].id)
        #expect(role.recipient == .role("fulfilment-lead") && role.template == "escalation-raised")
        let escalation = try #require(try await fixture.escalations("o-1").first)
        #expect(escalation.reason == .rule && escalation.role == "fulfilment-lead" && escalation.action == .notify)
        #expect(escalation.audit.rule == .reaction && escalation.audit.trigger?.ruleId == "shipment-delay-recovery")
        #expect(escalation.audit.trigger?.inputs["event.orderId"] == "SO-1")
        #expect(try await fixture.fired(trigger).map(\.skipped) == [nil])
        // The rule file as it stood is in the log, once.
        let versions = try await fixture.store.readStream(RulesVersionRecorded.stream).events
        #expect(versions.map(\.type) == [RulesVersionRecorded.type])
    }

    @Test(
        "a standard customer who withdrew consent: a suppression naming the withdrawal, no credit, no escalation; a second, longer delay fires again"
    )
    func withdrawnConsent() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.start("o-2", tier: "standard")
        let withdrawal = try await fixture.withdraw("c-o-2")
        try await fixture.runUntilCaughtUp([try fixture.engine()]) {
            try await fixture.delay("o-2", order: "SO-2", hours: 30)
            try await fixture.delay("o-2", order: "SO-2", hours: 60)
        }
        #expect(try await fixture.types("o-2") == ["RuleFired", "NotificationSuppressed", "RuleFired", "NotificationSuppressed"])
        let suppressed = try await fixture.notifications("o-2").compactMap { event -> NotificationEvent.Suppressed? in
            if case .suppressed(let suppressed) = event { return suppressed }
            return nil
        }
        #expect(suppressed.map(\.reason) == [.withdrawn, .withdrawn])
        #expect(suppressed.allSatisfy { $0.check == .atRequest && $0.consentEventId == withdrawal && $0.template == "shipment-delay-apology" })
        #expect(Set(suppressed.map(\.notificationId)).count == 2)
        #expect(try await fixture.escalations("o-2").isEmpty)
    }

    @Test(
        "inputs a rule meets besides the usual: an order Waymark never saw, a body without the declared field, a completed order, a journey merged into a strategic customer"
    )
    func oddInputs() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.start("o-done")
        try await fixture.client.send(.cancel(reason: "customer withdrew"), to: "o-done")
        try await fixture.start("o-merged", tier: "standard")
        try await fixture.customers.register(customerId: "c-survivor", name: PersonalData("Grace"), tier: "strategic")
        try await fixture.grant("c-survivor")
        try await fixture.customers.merge("c-o-merged", into: "c-survivor")
        var unknown = UUID()
        var malformed = UUID()
        var done = UUID()
        try await fixture.runUntilCaughtUp([try fixture.engine()]) {
            unknown = try await fixture.delay("nowhere", order: "SO-X", hours: 30)
            malformed = try await fixture.integration(
                "ShipmentDelayed", on: "shipment-SO-M", #"{"journeyId":"o-merged","orderId":"SO-M","delayHours":"soon","newDeliveryDate":"x"}"#,
                journey: "o-merged")
            done = try await fixture.delay("o-done", order: "SO-D", hours: 30)
            try await fixture.delay("o-merged", order: "SO-M", hours: 50)
        }
        #expect(try await fixture.fired(unknown).map(\.skipped) == ["no journey 'nowhere' has started"])
        #expect(try await fixture.fired(malformed).map(\.skipped) == ["the ShipmentDelayed event's field 'delayHours' is not an integer"])
        #expect(try await fixture.fired(done).map(\.skipped) == ["conditions not met"])
        #expect(try await fixture.types("o-done").isEmpty)
        #expect(try await fixture.store.readStream(JourneyDecider.streamName("nowhere")).events.isEmpty)
        // The merged journey's customer is now the strategic survivor: its tier and its consent.
        #expect(
            try await fixture.types("o-merged") == ["RuleFired", "CompensationOwed", "NotificationRequested", "EscalationRaised", "NotificationRequested"])
        guard case .requested(let request) = try await fixture.notifications("o-merged").first else {
            Issue.record("no request")
            return
        }
        #expect(request.recipient == .customer("c-survivor") && request.journey.tier == "strategic")
    }

    @Test("a CSAT survey when a case closes: at most one per customer within 14 days, none for a duplicate or a cancelled case")
    func surveys() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        let day = 86_400.0
        let origin = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / day).rounded(.down) * day - 30 * day)
        for (index, journey) in ["s-1", "s-2", "s-3", "s-4", "s-5"].enumerated() {
            try await fixture.start(
                journey, type: "support-case", customer: "c-s", tier: "enterprise", consents: index == 0 ? [("product-research", "email")] : [])
        }
        try await fixture.client.send(.cancel(reason: "gone"), to: "s-5")
        func close(_ journey: String, day offset: Double, resolution: String = "resolved") async throws -> UUID {
            try await fixture.integration(
                "SupportCaseClosed", on: "support-CASE-\(journey)", #"{"journeyId":"\#(journey)","caseId":"CASE-\#(journey)","resolution":"\#(resolution)"}"#,
                journey: journey, at: origin.addingTimeInterval(offset * day))
        }
        var closed: [UUID] = []
        try await fixture.runUntilCaughtUp([try fixture.engine()]) {
            closed.append(try await close("s-1", day: 0))
            closed.append(try await close("s-2", day: 3))
            closed.append(try await close("s-3", day: 3.5, resolution: "duplicate"))
            closed.append(try await close("s-4", day: 20))
            closed.append(try await close("s-5", day: 21))
        }
        let outcomes = try await fixture.reactions("s-1") + fixture.reactions("s-2") + fixture.reactions("s-4")
        #expect(
            outcomes.compactMap { if case .ruleFired(let fired) = $0 { return fired.outcomes.map(\.outcome) } else { return nil } } == [
                ["requested"], ["skipped: a survey was requested of the customer at \(TimestampText.iso8601(origin))"], ["requested"],
            ])
        #expect(try await fixture.fired(closed[2]).map(\.skipped) == ["conditions not met"])
        #expect(try await fixture.fired(closed[4]).map(\.skipped) == ["conditions not met"])
        guard case .requested(let invitation) = try await fixture.notifications("s-4").first else {
            Issue.record("no invitation")
            return
        }
        #expect(invitation.variables["survey_url"] == .text("https://survey.example.com/csat/CASE-s-4"))
        #expect(invitation.variables["case_reference"] == .text("CASE-s-4") && invitation.purpose == "product-research")
    }

    @Test(
        "a low CSAT answer becomes the journey's feedback, and the process manager's low-score rule escalates it; an out-of-range score is recorded as rejected"
    )
    func surveyAnswerToFeedback() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.start("f-1", type: "support-case", tier: "standard")
        let manager = try ProcessManager(
            store: fixture.store, definitions: DefinitionLibrary(fixture.shipped.catalog), settings: fixture.shipped.settings, instance: "pm-1",
            logger: TestDatabase.quietLogger)
        func answer(_ score: Int) async throws {
            try await fixture.integration(
                "SurveyAnswered", on: "survey-csat-CASE-f-1",
                #"{"journeyId":"f-1","surveyId":"csat-CASE-f-1","kind":"csat","score":\#(score),"channel":"email"}"#, journey: "f-1")
        }
        try await withServices([try fixture.engine(), manager]) {
            try await answer(1)
            try await answer(9)
            try await eventually("the low-score escalation", observing: { try await fixture.escalations("f-1").map(\.reason) }) { $0 == [.lowScore] }
        }
        #expect(try await fixture.types("f-1") == ["RuleFired", "FeedbackReceived", "RuleFired"])
        let outcomes = try await fixture.reactions("f-1").compactMap {
            if case .ruleFired(let fired) = $0 { return fired.outcomes[0].outcome } else { return nil }
        }
        #expect(outcomes == ["recorded", "rejected: score_out_of_range: a CSAT score is 1 to 5, not 9"])
        #expect(try await fixture.escalations("f-1").first?.role == "service-escalations")
    }

    @Test("a rule escalating to two roles raises two escalations, each with its own id to acknowledge, each role told")
    func twoEscalationsInOneRule() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        let rules = try fixture.shipped.parseEdited(
            "      - escalate:\n          role: fulfilment-lead\n",
            "      - escalate:\n          role: fulfilment-lead\n      - escalate:\n          role: finance-operations\n")
        try await fixture.start("e-1")
        try await fixture.runUntilCaughtUp([try fixture.engine(rules: rules)]) { try await fixture.delay("e-1", order: "SO-e", hours: 72) }
        let escalations = try await fixture.escalations("e-1")
        #expect(escalations.map(\.role) == ["fulfilment-lead", "finance-operations"])
        #expect(Set(escalations.map(\.escalationId)).count == 2, "\(escalations.map(\.escalationId))")
        #expect(Set(escalations.map(\.audit.deadlineId)).count == 2)
        let told = try await fixture.notifications("e-1").compactMap { event -> NotificationRecipient? in
            if case .requested(let request) = event, request.recipient.kind == .role { return request.recipient }
            return nil
        }
        #expect(told == [.role("fulfilment-lead"), .role("finance-operations")])
    }

    @Test("two engines on one log, and a checkpoint set back: each rule fires once per triggering event")
    func onceAcrossInstances() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        let other = try TestDatabase.anotherProcess(sharing: fixture.store)
        for index in 0..<20 { try await fixture.start("m-\(index)", tier: index % 2 == 0 ? "strategic" : "standard") }
        try await fixture.runUntilCaughtUp([try fixture.engine(instance: "a"), try fixture.engine(instance: "b", on: other)]) {
            for index in 0..<20 {
                for hours in [30, 50] { try await fixture.delay("m-\(index)", order: "SO-m-\(index)", hours: hours) }
            }
        }
        func firings() async throws -> (events: Int, distinct: Int) {
            let row = try await fixture.store.pool.query(
                "SELECT count(*), count(DISTINCT data->'trigger'->>'eventId') FROM events WHERE event_type = 'RuleFired'")[0]
            return try row.decode(Int.self, Int.self)
        }
        #expect(try await firings() == (40, 40))
        try await fixture.store.transaction { try await CatchUpSubscription.restart(ReactionEngine.subscriptionName, in: $0) }
        try await fixture.runUntilCaughtUp([try fixture.engine(instance: "c", on: other)])
        #expect(try await firings() == (40, 40))
        await other.close()
    }
}
