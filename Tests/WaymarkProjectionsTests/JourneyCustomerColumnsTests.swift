import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkProjections
import WaymarkTesting

/// What `analytics.journeys` says about a journey's customer: the customer and tier at the start,
/// and beside them the survivor after merges, the current tier and whether the customer has a
/// record.
@Suite("Journeys and their customers")
struct JourneyCustomerColumnsTests {
    static func start(_ journeyId: String, customer: String, tier: String = "standard") -> JourneyCommand {
        .start(.init(journeyId: journeyId, customerId: customer, journeyType: "new-business", tier: tier))
    }

    @Test("merges (also in chains) and tier changes show as survivor and current tier; an unregistered customer shows as such", arguments: [200, 1])
    func survivorAndCurrentTier(batchSize: Int) async throws {
        let fixture = try await Fixture(batchSize: batchSize)
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        let directory = CustomerDirectory(client: client, tiers: client.catalog.tiers)
        for id in ["c-1", "c-2", "c-3"] { try await directory.register(customerId: id, name: PersonalData("Customer \(id)"), tier: "standard") }
        try await client.send(Self.start("j-1", customer: "c-1"), to: "j-1", context: at(0))
        try await client.send(Self.start("j-2", customer: "c-2"), to: "j-2", context: at(0))
        try await client.send(Self.start("j-3", customer: "c-3"), to: "j-3", context: at(0))
        try await client.send(Self.start("j-4", customer: "ghost", tier: "enterprise"), to: "j-4", context: at(0))
        try await directory.changeTier(customerId: "c-2", to: "enterprise")
        // c-1 into c-2, then c-2 into c-3: c-1's journey follows to c-3.
        try await directory.merge("c-1", into: "c-2")
        try await directory.changeTier(customerId: "c-3", to: "strategic")
        try await directory.merge("c-2", into: "c-3")
        #expect(try await fixture.runUntilCaughtUp())

        let rows = try await fixture.view(
            "journeys", "journey_id, customer_id, tier, survivor_customer_id, current_tier, customer_registered::text", order: "journey_id")
        #expect(
            rows == [
                ["j-1", "c-1", "standard", "c-3", "strategic", "true"],
                ["j-2", "c-2", "standard", "c-3", "strategic", "true"],
                ["j-3", "c-3", "standard", "c-3", "strategic", "true"],
                ["j-4", "ghost", "enterprise", "ghost", "enterprise", "false"],
            ])
    }

    @Test("integration events on a journey's stream do not move last_event_at; rework_loops counts every re-entry of a stage visited before")
    func lastEventAndRework() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        try await client.send(Self.start("j-1", customer: "c-1"), to: "j-1", context: at(0))
        try await client.send(.moveToStage("proposal"), to: "j-1", context: at(1))
        try await client.send(.moveToStage("qualification"), to: "j-1", context: at(2))
        try await client.send(.moveToStage("proposal"), to: "j-1", context: at(3))
        try await client.append(
            toStream: "journey-j-1",
            events: [EventData(type: "ShipmentDelayed", data: "{}", metadata: EventMetadata(occurredAt: t0.addingTimeInterval(10 * 3_600)))])
        #expect(try await fixture.runUntilCaughtUp())
        let rows = try await fixture.view(
            "journeys", "rework_loops::text, (extract(epoch FROM last_event_at - started_at) / 3600)::int::text", order: "journey_id")
        #expect(rows == [["2", "3"]])
    }
}
