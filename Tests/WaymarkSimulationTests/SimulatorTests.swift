import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkSimulation
import WaymarkTesting

let configDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config")

func freshSimulator() async throws -> Simulator {
    let store = try await TestDatabase.freshStore(maxConnections: 6)
    let client = WaymarkClient(store: store, catalog: JourneyCatalog(try DefinitionLoader.load(directory: configDirectory)), logger: TestDatabase.quietLogger)
    return Simulator(client: client, logger: TestDatabase.quietLogger)
}

/// Every event of the store, in a form that two stores can be compared by.
func storedEvents(_ store: EventStore) async throws -> [String] {
    let rows = try await store.query(
        "SELECT stream_name || '/' || stream_version || '/' || event_id || '/' || event_type || '/' || data::text || '/' || metadata::text FROM events ORDER BY stream_name, stream_version"
    )
    return try rows.map { try $0.decode(String.self, at: 0) }
}

let until = Date(timeIntervalSince1970: 1_795_000_000)

@Suite("Simulator")
struct SimulatorTests {
    @Test("a seed determines every event; a second run with it writes nothing; another seed writes other journeys")
    func deterministic() async throws {
        let first = try await freshSimulator()
        let second = try await freshSimulator()
        defer {
            Task {
                await first.client.store.close()
                await second.client.store.close()
            }
        }
        let options = SimulationOptions(journeys: 40, seed: 7, until: until, senders: 3, journeysInFlight: 5)
        let counts = try await first.run(options)
        // Other senders and batch sizes interleave differently; the events are the same.
        try await second.run(SimulationOptions(journeys: 40, seed: 7, until: until, senders: 1, journeysInFlight: 17))
        let events = try await storedEvents(first.client.store)
        // Besides the simulated events, each simulated journey type's definition version, recorded once.
        let definitions = events.filter { $0.hasPrefix("definition-") }
        let simulatedTypes = Set(Simulator.journeyScripts(options, catalog: first.client.catalog).map(\.journeyType))
        #expect(definitions.count == simulatedTypes.count && definitions.allSatisfy { $0.contains("/DefinitionVersionRecorded/") })
        #expect(events.count - definitions.count == counts.events && counts.rejected == 0)
        #expect(try await storedEvents(second.client.store) == events)
        let again = Simulator(
            client: WaymarkClient(store: first.client.store, catalog: first.client.catalog, logger: TestDatabase.quietLogger),
            logger: TestDatabase.quietLogger)
        let repeated = try await again.run(options)
        #expect(repeated.rejected == 0)
        #expect(try await storedEvents(first.client.store) == events)
        try await second.run(SimulationOptions(journeys: 40, seed: 8, until: until))
        #expect(try await storedEvents(second.client.store).count > events.count)
    }

    @Test("the traffic looks like real journeys: every kind of step and ending, realistic scores, consent changes, times in order")
    func realistic() async throws {
        let simulator = try await freshSimulator()
        defer { Task { await simulator.client.store.close() } }
        let counts = try await simulator.run(SimulationOptions(journeys: 300, seed: 11, until: until))
        #expect(counts.rejected == 0)
        #expect(counts.journeysStarted == 300 && counts.customers == 100)
        for fate in JourneyFate.allCases { #expect(counts.fates[fate, default: 0] > 0, "no \(fate) journeys") }
        let store = simulator.client.store
        let types = Dictionary(
            uniqueKeysWithValues: try await store.query("SELECT event_type, count(*) FROM events GROUP BY 1").map {
                (try $0.decode(String.self, at: 0), try $0.decode(Int.self, at: 1))
            })
        for type in [
            "JourneyStarted", "MilestoneReached", "StageEntered", "HandoffRequested", "HandoffAccepted", "HandoffRejected", "WaitingOnCustomer",
            "JourneyResumed", "OwnerReassigned", "JourneyCompleted", "JourneyCancelled", "CompensationRecorded", "FeedbackReceived", "CustomerRegistered",
            "ExternalIdLinked", "ConsentGiven", "ConsentRefused", "ConsentWithdrawn",
        ] {
            #expect(types[type, default: 0] > 0, "no \(type) events: \(types)")
        }
        let journeyTypes = try await store.query("SELECT count(DISTINCT data->>'journeyType') FROM events WHERE event_type = 'JourneyStarted'")
        #expect(try journeyTypes[0].decode(Int.self, at: 0) == 4)
        // Most CSAT scores are good, some are bad.
        let scores = try await store.query(
            "SELECT count(*) FILTER (WHERE (data->>'score')::int >= 4), count(*) FROM events WHERE event_type = 'FeedbackReceived' AND data->>'kind' = 'csat'")
        let (good, all) = try scores[0].decode(Int.self, Int.self)
        #expect(all > 20 && Double(good) / Double(all) > 0.5 && good < all)
        // Each journey's events happened in order, none after the simulated period.
        let disorder = try await store.query(
            """
            SELECT count(*) FROM (
              SELECT (metadata->>'occurred_at')::timestamptz AS at,
                     lag((metadata->>'occurred_at')::timestamptz) OVER (PARTITION BY stream_name ORDER BY stream_version) AS before
              FROM events WHERE stream_name LIKE 'journey-%') t
            WHERE at < before OR at > to_timestamp(\(until.timeIntervalSince1970))
            """)
        #expect(try disorder[0].decode(Int.self, at: 0) == 0)
    }
}
