import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkSimulation
import WaymarkTesting

/// The cases the read side must handle appear in the simulated traffic, so that tests and benches
/// built on the simulator meet them.
@Suite("Simulator traffic beyond the journeys' own commands")
struct SimulatorTrafficTests {
    @Test("merges, tier changes, propagation reports (applied and failed), expiring consent, cancels with a handoff pending and integration events")
    func everyCase() async throws {
        let simulator = try await freshSimulator()
        defer { Task { await simulator.client.store.close() } }
        let counts = try await simulator.run(SimulationOptions(journeys: 300, seed: 11, until: until))
        #expect(counts.rejected == 0)
        let store = simulator.client.store
        let types = Dictionary(
            uniqueKeysWithValues: try await store.query("SELECT event_type, count(*) FROM events GROUP BY 1").map {
                (try $0.decode(String.self, at: 0), try $0.decode(Int.self, at: 1))
            })
        for type in ["CustomerMergedInto", "CustomerAbsorbed", "TierChanged", "ConsentPropagated", "ConsentPropagationFailed"] {
            #expect(types[type, default: 0] > 0, "no \(type) events: \(types)")
        }
        // Integration events of the systems around the journeys, on the journeys' streams.
        let integration = ["ShipmentDelayed", "SupportCaseClosed", "CRMNoteSynced"].map { types[$0, default: 0] }
        #expect(integration.allSatisfy { $0 > 0 }, "\(integration)")
        // Every event is the simulation's, but for each journey type's definition version, recorded once.
        #expect(counts.events == types.values.reduce(0, +) - types["DefinitionVersionRecorded", default: 0])
        // Most decisions are reported applied; failures are few.
        #expect(types["ConsentPropagated", default: 0] > 5 * types["ConsentPropagationFailed", default: 0])
        // Journeys under a duplicate's id, which a merge later folds into the customer.
        #expect(
            try await store.query(
                "SELECT count(*) FROM events WHERE event_type = 'JourneyStarted' AND 'customer-' || (data->>'customerId') IN (SELECT stream_name FROM events WHERE event_type = 'CustomerMergedInto')"
            )[0].decode(Int.self, at: 0) > 0)
        // Consent grants that run out, some before the period's end and some after.
        let expiring = try await store.query(
            """
            SELECT count(*) FILTER (WHERE (data->>'expiresAt')::timestamptz <= to_timestamp(\(until.timeIntervalSince1970))),
                   count(*) FILTER (WHERE (data->>'expiresAt')::timestamptz > to_timestamp(\(until.timeIntervalSince1970)))
            FROM events WHERE event_type = 'ConsentGiven' AND data ? 'expiresAt'
            """)
        let (expired, running) = try expiring[0].decode(Int.self, Int.self)
        #expect(expired > 0 && running > 0)
        // Journeys cancelled while a handoff waited for a decision.
        #expect(
            try await store.query(
                """
                SELECT count(*) FROM events c WHERE c.event_type = 'JourneyCancelled' AND (
                    SELECT h.event_type FROM events h
                    WHERE h.stream_name = c.stream_name AND h.stream_version < c.stream_version
                      AND h.event_type IN ('HandoffRequested', 'HandoffAccepted', 'HandoffRejected')
                    ORDER BY h.stream_version DESC LIMIT 1) = 'HandoffRequested'
                """)[0].decode(Int.self, at: 0) > 0)
    }
}
