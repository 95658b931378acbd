import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

@Suite("Who sends a command, apart from which command it is")
struct SenderTests {
    func client(sender: Sender) async throws -> WaymarkClient {
        let store = try await TestDatabase.freshStore()
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        return WaymarkClient(store: store, catalog: catalog, configuration: ClientConfiguration(sender: sender), logger: TestDatabase.quietLogger)
    }

    @Test("the client's sender is on every event unless a command names another")
    func clientSender() async throws {
        let client = try await client(sender: Sender(actor: "crm-sync", sourceSystem: "crm"))
        defer { Task { await client.store.close() } }
        try await client.send(.start(.init(customerId: "c-1", journeyType: "new-business", tier: "enterprise")), to: "j-1")
        try await client.send(
            .reachMilestone("discovery-call-held"), to: "j-1", context: CommandContext(by: Sender(actor: "ana", sourceSystem: "sales-portal")))
        let events = try await client.timeline(journey: "j-1")
        #expect(events.map(\.metadata.actor) == ["crm-sync", "ana"])
        #expect(events.map(\.metadata.sourceSystem) == ["crm", "sales-portal"])
    }

    @Test("a start sent to a journey by id needs no journey id of its own; a different one is refused")
    func startByJourneyId() async throws {
        let client = try await client(sender: Sender())
        defer { Task { await client.store.close() } }
        let started = try await client.send(.start(.init(customerId: "c-1", journeyType: "new-business", tier: "enterprise")), to: "j-2")
        #expect(started.streamName == "journey-j-2")
        #expect(try await client.state(journey: "j-2").journeyId == "j-2")
        await #expect {
            try await client.send(.start(.init(journeyId: "j-3", customerId: "c-1", journeyType: "new-business", tier: "enterprise")), to: "j-4")
        } throws: { ($0 as? ClientError)?.code == .invalidInput }
    }

    @Test("one context without an id, reused for two commands, sends two commands")
    func reusedContextWithoutId() async throws {
        let client = try await client(sender: Sender())
        defer { Task { await client.store.close() } }
        let context = CommandContext(by: Sender(actor: "ops"))
        try await client.send(.start(.init(customerId: "c-1", journeyType: "new-business", tier: "enterprise")), to: "j-5", context: context)
        let second = try await client.send(.reachMilestone("discovery-call-held"), to: "j-5", context: context)
        #expect(!second.replayed && second.types == ["MilestoneReached"])
        #expect(try await client.timeline(journey: "j-5").count == 2)
    }

    @Test("integration events appended by journey id land on the journey's stream, in its timeline")
    func appendToJourney() async throws {
        let client = try await client(sender: Sender())
        defer { Task { await client.store.close() } }
        try await client.send(.start(.init(customerId: "c-1", journeyType: "new-business", tier: "enterprise")), to: "j-6")
        let result = try await client.append([EventData(type: "ShipmentDelayed", data: #"{"days":2}"#)], toJourney: "j-6")
        #expect(result.streamName == "journey-j-6")
        #expect(try await client.timeline(journey: "j-6").map(\.type) == ["JourneyStarted", "ShipmentDelayed"])
        await #expect {
            try await client.append([EventData(type: "JourneyCompleted", data: "{}")], toJourney: "j-6")
        } throws: { ($0 as? ClientError)?.code == .domainEventType }
    }
}
