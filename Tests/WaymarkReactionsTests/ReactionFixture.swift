import Foundation
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkReactions
import WaymarkTesting

/// A migrated store, a client, the shipped configuration, and rules engines over them.
struct ReactionFixture {
    let store: EventStore
    let client: WaymarkClient
    let shipped: ShippedConfiguration
    let customers: CustomerDirectory
    let consents: ConsentRegistry

    init() async throws {
        store = try await TestDatabase.freshStore(maxConnections: 8)
        shipped = try ShippedConfiguration()
        client = WaymarkClient(store: store, catalog: shipped.catalog, logger: TestDatabase.quietLogger)
        customers = CustomerDirectory(client: client)
        consents = ConsentRegistry(client: client)
    }

    func engine(instance: String = "rx-1", on store: EventStore? = nil, rules: RuleSet? = nil) throws -> ReactionEngine {
        try ReactionEngine(
            store: store ?? self.store, rules: rules ?? shipped.rules, definitions: DefinitionLibrary(shipped.catalog), locale: "en",
            staleAfterSeconds: shipped.settings.staleAfterSeconds, instance: instance, batchSize: 25, logger: TestDatabase.quietLogger)
    }

    /// A customer of `tier` with a journey of `type` started; `consents` given for (purpose, channel).
    func start(
        _ journeyId: String, type: String = "order-to-cash", customer: String? = nil, tier: String = "strategic",
        consents given: [(String, String)] = [("service-updates", "email")]
    ) async throws {
        let customerId = customer ?? "c-\(journeyId)"
        if try await store.readStream(CustomerDecider.streamName(customerId)).events.isEmpty {
            try await customers.register(customerId: customerId, name: PersonalData("Ada \(journeyId)"), tier: tier)
        }
        for (purpose, channel) in given { try await grant(customerId, purpose: purpose, channel: channel) }
        try await client.send(.start(.init(customerId: customerId, journeyType: type, tier: tier)), to: journeyId)
    }

    @discardableResult
    func grant(_ subject: String, purpose: String = "service-updates", channel: String = "email") async throws -> UUID {
        let record = ConsentRecord(
            scope: ConsentScope(purpose: purpose, channel: channel), legalBasis: .consent, noticeVersion: "n1", collectionPoint: "web", proofReference: "p1")
        return try await consents.record(.give(record), subject: subject).decisionId!
    }

    @discardableResult
    func withdraw(_ subject: String, purpose: String = "service-updates", channel: String = "email") async throws -> UUID {
        try await consents.record(.withdraw(ConsentScope(purpose: purpose, channel: channel), proofReference: "p2"), subject: subject).decisionId!
    }

    /// An integrated system's event, appended raw as `client.append` would (the journey as correlation id).
    @discardableResult
    func integration(_ type: String, on stream: String, _ data: String, journey: String?, at occurredAt: Date = Date()) async throws -> UUID {
        let id = UUID()
        try await store.append(
            to: stream,
            events: [
                EventData(
                    id: id, type: type, data: data,
                    metadata: EventMetadata(correlationId: journey, actor: "erp-sync", sourceSystem: "erp", occurredAt: occurredAt))
            ])
        return id
    }

    @discardableResult
    func delay(_ journeyId: String, order: String, hours: Int, journeyField: String? = nil) async throws -> UUID {
        try await integration(
            "ShipmentDelayed", on: "shipment-\(order)",
            #"{"journeyId":"\#(journeyField ?? journeyId)","orderId":"\#(order)","delayHours":\#(hours),"newDeliveryDate":"2026-12-20"}"#,
            journey: journeyId)
    }

    /// The events after the journey's own commands: what rules (and others) recorded, as types,
    /// with the decoded rule, compensation, notification and escalation events.
    func recorded(_ journeyId: String) async throws -> [RecordedEvent] {
        try await store.readStream(JourneyDecider.streamName(journeyId), limit: 1_000).events.filter { $0.metadata.actor == "rules" }
    }

    func types(_ journeyId: String) async throws -> [String] { try await recorded(journeyId).map(\.type) }

    func reactions(_ journeyId: String) async throws -> [ReactionEvent] {
        try await recorded(journeyId).compactMap { try ReactionEvent.decode(type: $0.type, data: $0.data, codec: .standard) }
    }

    func notifications(_ journeyId: String) async throws -> [NotificationEvent] {
        try await recorded(journeyId).compactMap { try NotificationEvent.decode(type: $0.type, data: $0.data, codec: .standard) }
    }

    func escalations(_ journeyId: String) async throws -> [JourneyEvent.EscalationRaised] {
        try await store.readStream(JourneyDecider.streamName(journeyId), limit: 1_000).events.compactMap {
            if case .escalationRaised(let raised) = try JourneyEvent.decode(type: $0.type, data: $0.data, codec: .standard) { return raised }
            return nil
        }
    }

    /// `rx_fired`'s row for a triggering event: the journey and why nothing was recorded (nil: fired).
    func fired(_ eventId: UUID) async throws -> [(rule: String, journey: String?, skipped: String?)] {
        try await store.pool.query(
            "SELECT rule_id, journey_id, skipped FROM rx_fired WHERE trigger_event_id = \(eventId.uuidString)::uuid ORDER BY rule_id"
        ).map { try $0.decode(String.self, String?.self, String?.self) }.map { (rule: $0.0, journey: $0.1, skipped: $0.2) }
    }

    func runUntilCaughtUp(_ engines: [ReactionEngine], _ body: () async throws -> Void = {}) async throws {
        try await withServices(engines) {
            try await body()
            for engine in engines { #expect(try await engine.waitUntilCaughtUp(timeout: TestTime.deadline)) }
        }
    }
}
