import Foundation
import Synchronization
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkProjections
import WaymarkTesting

/// Seals as `sealed:<subject>:<reversed text>` and counts what it opens.
final class CountingSealing: PersonalDataSealing {
    let opened = Mutex<[String]>([])

    func seal(_ value: String, subject: String) throws -> String { "sealed:\(subject):\(String(value.reversed()))" }

    func open(_ stored: String) throws -> String {
        guard stored.hasPrefix("sealed:"), let text = stored.split(separator: ":", maxSplits: 2).last else { return stored }
        let value = String(text.reversed())
        opened.withLock { $0.append(value) }
        return value
    }
}

@Suite("Read models over sealed events")
struct SealedEventsTests {
    @Test("the standard projections read the log through the writers' codec: sealed personal fields are opened there")
    func projectionsOpenThroughTheCodec() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        let sealing = CountingSealing()
        let codec = EventCodec(sealing: sealing)
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let client = WaymarkClient(store: store, catalog: catalog, configuration: ClientConfiguration(codec: codec), logger: TestDatabase.quietLogger)
        try await CustomerDirectory(client: client).register(customerId: "c-1", name: PersonalData("Ana Lima"), tier: "enterprise")
        try await client.send(.start(.init(customerId: "c-1", journeyType: "new-business", tier: "enterprise")), to: "j-1")
        try await client.send(.recordFeedback(.init(kind: .csat, score: 4, channel: "email", comment: PersonalData("quick and kind"))), to: "j-1")
        let stored = try await store.readStream("journey-j-1").events.map(\.data)
        #expect(stored.contains { $0.contains("sealed:c-1:dnik dna kciuq") })

        let runner = try ProjectionRunner(
            store: store, projections: ProjectionSet.standard(definitions: DefinitionLibrary(catalog), codec: codec),
            analyticsSchema: store.schema + "_analytics", batchSize: 200, standbyInterval: .milliseconds(100), logger: TestDatabase.quietLogger)
        sealing.opened.withLock { $0.removeAll() }
        try await withServices([runner]) {
            for name in ["journeys", "customers", "sla", "consent"] {
                let caughtUp = try await runner.waitUntilCaughtUp(name, timeout: TestTime.deadline)
                #expect(caughtUp, "\(name) caught up")
            }
        }
        let opened = Set(sealing.opened.withLock { $0 })
        #expect(opened.contains("Ana Lima"), "the customer's name was opened by the read side: \(opened.count) values")
        #expect(opened.contains("quick and kind"), "the feedback comment was opened by the read side")
    }
}
