import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

/// What a case prepares on a fresh store: the command to refuse, and every stream it would write.
struct RejectionAttempt: Sendable {
    var streams: [String]
    var command: @Sendable () async throws -> Void
}

/// One way to provoke one rejection code through the client module (or, where the client cannot
/// reach a branch, through the domain's `decide`).
struct RejectionCase: Sendable, CustomTestStringConvertible {
    var code: Rejection.Code
    var scenario: String
    /// Names the message must carry so that a person can act on it without reading the code.
    var mentions: [String]
    var arrange: @Sendable (WaymarkClient) async throws -> RejectionAttempt

    var testDescription: String { "\(code.name): \(scenario)" }
}

@Suite("Rejection codes through the client")
struct RejectionCodeTests {
    static let tiers: Set<String> = ["strategic", "enterprise", "standard"]
    static let journeyId = "j-1"
    static let journeyStream = WaymarkClient.streamName(journey: journeyId)
    static let crm = ExternalID(system: "crm", id: "A-1")
    static let marketing = ConsentScope(purpose: "marketing", channel: "email")
    static let consentRecord = ConsentRecord(
        scope: marketing, legalBasis: .consent, noticeVersion: "privacy-2026-10", collectionPoint: "signup-web", proofReference: "form-8812")

    static func startOf(_ journeyType: String = "new-business", tier: String = "enterprise") -> JourneyCommand.Start {
        .init(journeyId: journeyId, customerId: "customer-7", journeyType: journeyType, tier: tier, owner: "ana")
    }

    /// Starts journey `j-1` (unless `start` is nil), sends `setup`, then `command` is the one refused.
    static func journey(
        _ code: Rejection.Code, _ scenario: String, mentions: [String], start: JourneyCommand.Start? = startOf(), setup: [JourneyCommand] = [],
        _ command: JourneyCommand
    ) -> RejectionCase {
        RejectionCase(code: code, scenario: scenario, mentions: mentions) { client in
            if let start { try await client.send(.start(start), to: journeyId) }
            for step in setup { try await client.send(step, to: journeyId) }
            return RejectionAttempt(streams: [journeyStream]) { try await client.send(command, to: journeyId) }
        }
    }

    /// Registers `registered` customers, runs `setup`, then `command` is the one refused.
    static func customer(
        _ code: Rejection.Code, _ scenario: String, mentions: [String], registered: [String] = ["c-1"], streams: [String],
        setup: @escaping @Sendable (CustomerDirectory) async throws -> Void = { _ in },
        _ command: @escaping @Sendable (CustomerDirectory) async throws -> Void
    ) -> RejectionCase {
        RejectionCase(code: code, scenario: scenario, mentions: mentions) { client in
            let directory = CustomerDirectory(client: client, tiers: tiers)
            for id in registered { try await directory.register(customerId: id, name: PersonalData("Customer \(id)"), tier: "standard") }
            try await setup(directory)
            return RejectionAttempt(streams: streams) { try await command(directory) }
        }
    }

    /// Records `setup` for subject `s-1`, then `command` is the one refused.
    static func consent(_ code: Rejection.Code, _ scenario: String, mentions: [String], setup: [ConsentCommand] = [], _ command: ConsentCommand)
        -> RejectionCase
    {
        RejectionCase(code: code, scenario: scenario, mentions: mentions) { client in
            let registry = ConsentRegistry(client: client)
            for step in setup { try await registry.record(step, subject: "s-1") }
            return RejectionAttempt(streams: [ConsentRegistry.streamName(subject: "s-1")]) { try await registry.record(command, subject: "s-1") }
        }
    }

    static let customerStream = CustomerDirectory.streamName(customer: "c-1")
    static let crmStream = CustomerDirectory.streamName(externalID: crm)
    static let creditCheckFacts = ["order-total": "1200 EUR", "payment-terms": "net 30"]

    static let cases: [RejectionCase] = [
        journey(.invalidInput, "waiting on the customer for a blank reason", mentions: ["must not be empty"], .waitOnCustomer(reason: "  ")),
        customer(
            .invalidInput, "registering a blank name", mentions: ["name", "must not be empty"], registered: [],
            streams: [CustomerDirectory.streamName(customer: "c-9")]
        ) { try await $0.register(customerId: "c-9", name: PersonalData(" "), tier: "standard") },
        consent(
            .invalidInput, "giving consent with a blank proof reference", mentions: ["proof reference"],
            .give(ConsentRecord(scope: marketing, legalBasis: .consent, noticeVersion: "n-1", collectionPoint: "web", proofReference: " "))),
        journey(.journeyNotStarted, "a milestone on a journey never started", mentions: ["not started"], start: nil, .reachMilestone("budget-confirmed")),
        journey(.journeyAlreadyStarted, "starting a journey twice", mentions: [journeyId, "already started"], .start(startOf())),
        journey(.journeyClosed, "reassigning a completed journey", mentions: ["completed"], setup: [.complete], .reassignOwner(to: "bo")),
        // With a catalog from `DefinitionLoader` the key always is the definition's journey type,
        // and later commands are decided under exactly the recorded version; a catalog built by
        // hand with a definition under the wrong key is how a client meets this code.
        RejectionCase(code: .wrongDefinition, scenario: "a catalog that files the renewal definition as new-business", mentions: ["new-business", "renewal"]) {
            client in
            let loaded = try DefinitionLoader.load(directory: configDirectory)
            var definitions = loaded.definitions
            definitions["new-business"] = loaded.definitions["renewal"]
            let catalog = JourneyCatalog(JourneyConfiguration(calendars: loaded.calendars, definitions: definitions))
            let miswired = WaymarkClient(store: client.store, catalog: catalog, logger: TestDatabase.quietLogger)
            return RejectionAttempt(streams: [journeyStream]) { try await miswired.send(.start(startOf()), to: journeyId) }
        },
        // The mid-journey branch (recorded version ≠ the definition decided under) is unreachable
        // through the client, which looks the definition up by the recorded version: domain only.
        RejectionCase(code: .wrongDefinition, scenario: "decide: a journey decided under another version (domain only)", mentions: ["2026.11+0000"]) { _ in
            let definition = try #require(try DefinitionLoader.load(directory: configDirectory).definitions["new-business"])
            let started = try JourneyDecider.decide(JourneyState(), .start(startOf()), definition: definition).get().map {
                event -> JourneyEvent in
                guard case .started(var payload) = event else { return event }
                payload.definitionVersion = "2026.11+0000000000000000"
                return .started(payload)
            }
            let state = JourneyState.replay(started)
            return RejectionAttempt(streams: []) { _ = try JourneyDecider.decide(state, .complete, definition: definition).get() }
        },
        journey(
            .unknownTier, "starting in a tier the definition does not serve", mentions: ["platinum", "enterprise"], start: nil,
            .start(startOf(tier: "platinum"))),
        customer(
            .unknownTier, "registering a customer in an unknown tier", mentions: ["platinum", "standard"], registered: [],
            streams: [CustomerDirectory.streamName(customer: "c-9")]
        ) { try await $0.register(customerId: "c-9", name: PersonalData("Platinum Ltd"), tier: "platinum") },
        journey(.unknownStage, "moving to a stage of another journey type", mentions: ["negotiation", "new-business"], .moveToStage("negotiation")),
        journey(.unknownMilestone, "a milestone of another journey type", mentions: ["offer-sent", "new-business"], .reachMilestone("offer-sent")),
        journey(
            .milestoneNotInStage, "a proposal milestone during qualification", mentions: ["proposal-sent", "proposal", "qualification"],
            .reachMilestone("proposal-sent")),
        journey(
            .milestoneAlreadyReached, "the same milestone twice in one visit", mentions: ["budget-confirmed", "qualification"],
            setup: [.reachMilestone("budget-confirmed")], .reachMilestone("budget-confirmed")),
        journey(
            .transitionNotAllowed, "skipping from qualification to contract", mentions: ["qualification", "contract", "proposal"], .moveToStage("contract")),
        journey(
            .handoffRequired, "moving an order from sales to billing without a handoff", mentions: ["sales", "billing", "request a handoff"],
            start: startOf("order-to-cash"), .moveToStage("credit-check")),
        journey(
            .notAHandoff, "a handoff between two sales stages", mentions: ["qualification", "proposal", "sales"],
            .requestHandoff(toStage: "proposal", facts: [:])),
        journey(
            .handoffAlreadyPending, "requesting the credit-check handoff twice", mentions: ["sales", "billing"], start: startOf("order-to-cash"),
            setup: [.requestHandoff(toStage: "credit-check", facts: ["order-total": "1200 EUR"])],
            .requestHandoff(toStage: "credit-check", facts: creditCheckFacts)),
        journey(
            .noPendingHandoff, "accepting when nothing was handed off", mentions: ["no handoff"], start: startOf("order-to-cash"),
            .acceptHandoff(by: "billing-desk")),
        journey(
            .acceptanceCriteriaMissing, "accepting a handoff without payment terms", mentions: ["billing", "payment-terms", "reject it"],
            start: startOf("order-to-cash"),
            setup: [.requestHandoff(toStage: "credit-check", facts: ["order-total": "1200 EUR"])], .acceptHandoff(by: "billing-desk")),
        journey(
            .alreadyWaitingOnCustomer, "waiting on the customer twice", mentions: ["already waits"], setup: [.waitOnCustomer(reason: "signed NDA")],
            .waitOnCustomer(reason: "budget approval")),
        journey(.notWaitingOnCustomer, "resuming an active journey", mentions: ["does not wait"], .resume),
        journey(
            .waitingOnCustomer, "moving on while waiting on the customer", mentions: ["resume", "move to another stage"],
            setup: [.waitOnCustomer(reason: "signed NDA")], .moveToStage("proposal")),
        journey(.sameOwner, "reassigning to the current owner", mentions: ["ana"], .reassignOwner(to: "ana")),
        journey(
            .scoreOutOfRange, "a CSAT score of 6", mentions: ["CSAT", "1 to 5", "6"], .recordFeedback(.init(kind: .csat, score: 6, channel: "email"))),
        journey(
            .compensationNotOwed, "recording a compensation the cancellation does not owe", mentions: ["recall-shipment", "release-credit-hold"],
            start: startOf("order-to-cash"),
            setup: [
                .requestHandoff(toStage: "credit-check", facts: creditCheckFacts), .acceptHandoff(by: "billing-desk"), .reachMilestone("credit-approved"),
                .cancel(reason: "order withdrawn"),
            ],
            .recordCompensation("recall-shipment")),
        customer(
            .customerNotRegistered, "changing the tier of an unknown customer", mentions: ["not registered"], registered: [],
            streams: [CustomerDirectory.streamName(customer: "ghost")]
        ) { try await $0.changeTier(customerId: "ghost", to: "standard") },
        customer(.customerAlreadyRegistered, "registering c-1 twice", mentions: ["c-1"], streams: [customerStream]) {
            try await $0.register(customerId: "c-1", name: PersonalData("Again"), tier: "enterprise")
        },
        customer(
            .customerMerged, "a command to a merged duplicate", mentions: ["c-2", "c-1"], registered: ["c-1", "c-2"],
            streams: [customerStream, CustomerDirectory.streamName(customer: "c-2")], setup: { try await $0.merge("c-2", into: "c-1") }
        ) { try await $0.changeTier(customerId: "c-2", to: "enterprise") },
        customer(
            .externalIDAlreadyLinked, "linking the same id to its holder again", mentions: ["crm:A-1"], streams: [customerStream, crmStream],
            setup: { try await $0.link(crm, to: "c-1") }
        ) { try await $0.link(crm, to: "c-1") },
        customer(
            .externalIDLinkedElsewhere, "linking c-1's id to c-2", mentions: ["crm:A-1", "c-1"], registered: ["c-1", "c-2"],
            streams: [customerStream, CustomerDirectory.streamName(customer: "c-2"), crmStream], setup: { try await $0.link(crm, to: "c-1") }
        ) { try await $0.link(crm, to: "c-2") },
        customer(.mergeIntoItself, "merging c-1 into itself", mentions: ["itself"], streams: [customerStream]) { try await $0.merge("c-1", into: "c-1") },
        consent(
            .consentUnchanged, "giving consent twice on the same terms", mentions: ["marketing by email"], setup: [.give(consentRecord)], .give(consentRecord)),
        consent(.consentNotGiven, "withdrawing consent never given", mentions: ["marketing by email"], .withdraw(marketing, proofReference: "click-77")),
        consent(
            .consentNotAsked, "reporting a propagation for a question never asked", mentions: ["marketing by email", "never asked"],
            .recordPropagation(ConsentPropagation(scope: marketing, system: "billing", decision: UUID(), acknowledgement: "B-1"))),
        consent(
            .unknownPurpose, "giving consent for a purpose consent.yaml does not list", mentions: ["surveys", "consent.yaml", "marketing"],
            .give(
                ConsentRecord(
                    scope: .init(purpose: "surveys", channel: "email"), legalBasis: .consent, noticeVersion: "n-1", collectionPoint: "web",
                    proofReference: "f-1"))),
        consent(
            .unknownChannel, "refusing marketing by fax", mentions: ["marketing", "fax", "email, sms, phone"],
            .refuse(
                ConsentRecord(
                    scope: .init(purpose: "marketing", channel: "fax"), legalBasis: .consent, noticeVersion: "n-1", collectionPoint: "web",
                    proofReference: "f-1"))),
        consent(
            .unknownDecision, "a propagation report naming no decision of the subject", mentions: ["marketing by email", "not a decision"],
            setup: [.give(consentRecord)],
            .recordPropagation(ConsentPropagation(scope: marketing, system: "crm", decision: UUID(), acknowledgement: "CRM-1"))),
        journey(
            .unknownEscalation, "acknowledging an escalation the journey never raised", mentions: ["e-404", "none"],
            .acknowledgeEscalation(escalationId: "e-404", by: "lead")),
        RejectionCase(code: .escalationAlreadyAcknowledged, scenario: "acknowledging an escalation twice", mentions: ["j-1/low-score/1", "already"]) { client in
            try await client.send(.start(startOf()), to: journeyId)
            // As the process manager records it.
            let audit = DecisionAudit(
                rule: .lowScore, deadlineId: "j-1/low-score/1", definitionVersion: "v", stage: "qualification", department: "sales", tier: "enterprise",
                since: Date(), dueAt: Date(), decidedAt: Date(), stale: false, instance: "pm")
            let raised = JourneyEvent.escalationRaised(
                .init(
                    escalationId: "j-1/low-score/1", reason: .lowScore, goal: nil, level: 1, role: "service-escalations", action: .notify, queueOwner: nil,
                    audit: audit))
            try await client.store.append(
                to: journeyStream, events: [EventData(type: raised.type, data: try raised.encode(with: .standard, subject: nil))])
            try await client.send(.acknowledgeEscalation(escalationId: "j-1/low-score/1", by: "lead"), to: journeyId)
            return RejectionAttempt(streams: [journeyStream]) {
                try await client.send(.acknowledgeEscalation(escalationId: "j-1/low-score/1", by: "someone else"), to: journeyId)
            }
        },
        RejectionCase(code: .systemNotDownstream, scenario: "billing reporting on marketing consent", mentions: ["billing", "marketing-automation, crm"]) {
            client in
            let registry = ConsentRegistry(client: client)
            let given = try await registry.record(.give(consentRecord), subject: "s-1")
            let report = ConsentPropagation(scope: marketing, system: "billing", decision: given.events[0].id, acknowledgement: "B-1")
            return RejectionAttempt(streams: [ConsentRegistry.streamName(subject: "s-1")]) {
                try await registry.record(.recordPropagation(report), subject: "s-1")
            }
        },
    ]

    /// The end of the global log and the version of each stream: a refused command changes neither.
    struct Footprint: Equatable {
        var lastPosition: GlobalPosition?
        var versions: [String: Int64]
    }

    static func footprint(_ store: EventStore, _ streams: [String]) async throws -> Footprint {
        var versions: [String: Int64] = [:]
        for stream in streams { versions[stream] = try await store.streamVersion(stream) }
        return Footprint(lastPosition: try await store.head().lastPosition, versions: versions)
    }

    @Test("a refused command throws a Rejection with its code and an informative message, and stores nothing", arguments: cases)
    func refused(_ example: RejectionCase) async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let attempt = try await example.arrange(client)
        let before = try await Self.footprint(client.store, attempt.streams)
        if attempt.streams.contains(Self.journeyStream) {
            #expect(before.versions[Self.journeyStream] == Int64(try await client.timeline(journey: Self.journeyId).count))
        }

        let rejection = await #expect(throws: Rejection.self) { try await attempt.command() }
        #expect(rejection?.code == example.code, "\(String(describing: rejection))")
        let message = rejection?.message ?? ""
        #expect(!message.trimmingCharacters(in: .whitespaces).isEmpty)
        for word in example.mentions { #expect(message.contains(word), "the message \"\(message)\" should mention \(word)") }
        #expect(rejection?.description == "\(example.code.name): \(message)")

        #expect(try await Self.footprint(client.store, attempt.streams) == before, "the refused command stored something")
        if attempt.streams.contains(Self.journeyStream) {
            #expect(Int64(try await client.timeline(journey: Self.journeyId).count) == before.versions[Self.journeyStream])
        }
    }

    // Each case above asserts the code it actually got, so the table's codes are the codes the
    // suite exercised: a new code without a case fails here.
    @Test("every rejection code has a case")
    func everyCodeCovered() {
        let exercised = Set(Self.cases.map(\.code))
        let missing = Set(Rejection.Code.allCases).subtracting(exercised).map(\.name).sorted()
        #expect(exercised == Set(Rejection.Code.allCases), "no case for: \(missing)")
    }
}
