import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

@Suite("A customer's journeys")
struct CustomerJourneysTests {
    @Test("a customer's journeys, the merged duplicate's included, found through the start events' index")
    func journeysOfCustomer() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let directory = CustomerDirectory(client: client, tiers: client.catalog.tiers)
        try await directory.register(customerId: "acme", name: PersonalData("Acme"), tier: "enterprise")
        try await directory.register(customerId: "acme-dup", name: PersonalData("ACME GmbH"), tier: "enterprise")
        for (journey, customer) in [("a-1", "acme"), ("a-2", "acme-dup"), ("a-3", "acme"), ("o-1", "other")] {
            try await client.send(
                .start(.init(journeyId: journey, customerId: customer, journeyType: "support-case", tier: "enterprise")), to: journey)
        }
        try await client.send(.reachMilestone("case-classified"), to: "a-3")
        #expect(try await directory.journeys(of: "acme").map(\.journeyId) == ["a-1", "a-3"])
        try await directory.merge("acme-dup", into: "acme")
        for id in ["acme", "acme-dup"] {
            let journeys = try await directory.journeys(of: id)
            #expect(journeys.map(\.journeyId) == ["a-1", "a-2", "a-3"], "\(id)")
            #expect(journeys.last?.milestones == ["case-classified"])
        }
        #expect(try await directory.journeys(of: "nobody").isEmpty)
        let plan = try await client.store.query(
            "EXPLAIN SELECT stream_name FROM events WHERE event_type = 'JourneyStarted' AND data->>'customerId' = ANY('{acme}'::text[])")
        let text = try plan.map { try $0.decode(String.self, at: 0) }.joined(separator: "\n")
        #expect(text.contains("events_journey_started_by_customer"), "\(text)")
    }
}
