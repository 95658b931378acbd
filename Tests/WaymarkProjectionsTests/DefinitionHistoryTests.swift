import Foundation
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

/// Every definition version ever used stays available: editing a journey file never changes the
/// meaning of journeys started under its earlier text.
@Suite("Definition versions in the log")
struct DefinitionHistoryTests {
    /// A copy of the shipped configuration with `edit` applied to new-business.yaml.
    static func editedConfiguration(_ edit: (String) -> String) throws -> JourneyCatalog {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-config-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: configDirectory, to: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("journeys/new-business.yaml")
        try edit(try String(contentsOf: file, encoding: .utf8)).write(to: file, atomically: true, encoding: .utf8)
        return JourneyCatalog(try DefinitionLoader.load(directory: folder))
    }

    @Test("a journey started before its file was edited is decided and projected under the version it started with, recorded once in the log")
    func editedFileKeepsOldJourneys() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        let original = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let before = WaymarkClient(store: store, catalog: original, logger: TestDatabase.quietLogger)
        let start = JourneyCommand.start(.init(journeyId: "old-1", customerId: "c-1", journeyType: "new-business", tier: "standard"))
        try await before.send(start, to: "old-1")
        let oldVersion = try #require(original.current("new-business")).version.description

        // An operator adds a comment: a new version by content hash, same human version string.
        let edited = try Self.editedConfiguration { $0 + "\n# reviewed by operations\n" }
        let newVersion = try #require(edited.current("new-business")).version.description
        #expect(newVersion != oldVersion && newVersion.hasPrefix("2026.11+"))
        #expect(edited.definition(version: oldVersion) == nil)

        // A client that loaded only the edited files still decides the old journey.
        let after = WaymarkClient(store: store, catalog: edited, logger: TestDatabase.quietLogger)
        try await after.send(.reachMilestone("discovery-call-held"), to: "old-1")
        try await after.send(.start(.init(journeyId: "new-1", customerId: "c-2", journeyType: "new-business", tier: "standard")), to: "new-1")
        // A third client of the original files records nothing again.
        try await WaymarkClient(store: store, catalog: original, logger: TestDatabase.quietLogger)
            .send(.start(.init(journeyId: "old-2", customerId: "c-3", journeyType: "new-business", tier: "standard")), to: "old-2")
        let recorded = try await store.readStream(DefinitionLibrary.streamName(journeyType: "new-business")).events
        #expect(recorded.map(\.type) == [DefinitionLibrary.eventType, DefinitionLibrary.eventType])
        #expect(recorded.map { $0.data.contains(oldVersion) } == [true, false] && recorded[1].data.contains(newVersion))

        // A runner of the edited files projects the old journeys with their own dwell limits.
        let runner = try ProjectionRunner(
            store: store, projections: standardProjections(catalog: edited), analyticsSchema: store.schema + "_analytics",
            standbyInterval: .milliseconds(100), logger: TestDatabase.quietLogger)
        let caughtUp = try await withServices([runner]) {
            let journeys = try await runner.waitUntilCaughtUp("journeys", timeout: TestTime.deadline)
            let sla = try await runner.waitUntilCaughtUp("sla", timeout: TestTime.deadline)
            return journeys && sla
        }
        #expect(caughtUp)
        // The SLA projection matches the old journeys' goals under their own version too.
        let clocks = try await store.query(
            PostgresQuery(
                sql: "SELECT journey_id FROM \(PostgresIdentifier.quote(store.schema + "_analytics")).sla WHERE goal = 'lead-to-live' ORDER BY 1"))
        #expect(try clocks.map { try $0.decode(String.self, at: 0) } == ["new-1", "old-1", "old-2"])
        let rows = try await store.query(
            PostgresQuery(
                sql:
                    "SELECT journey_id, definition_version, extract(epoch FROM stage_max_dwell)::int8 FROM \(PostgresIdentifier.quote(store.schema + "_analytics")).journeys ORDER BY journey_id"
            ))
        let journeys = try rows.map { try $0.decode(String.self, String.self, Int64?.self) }
        #expect(journeys.map(\.0) == ["new-1", "old-1", "old-2"])
        #expect(journeys.map(\.1) == [newVersion, oldVersion, oldVersion])
        #expect(journeys.allSatisfy { $0.2 == 10 * 86_400 }, "qualification's max_dwell is 10d in both versions: \(journeys)")
    }

    @Test("a journey whose version is known nowhere is a clear error naming it, in the client and in the projection")
    func unknownVersionIsNamed() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let client = WaymarkClient(store: store, catalog: catalog, logger: TestDatabase.quietLogger)
        var started = try #require(
            try client.decide(
                .start(.init(journeyId: "lost-1", customerId: "c", journeyType: "renewal", tier: "standard")), to: "lost-1", on: JourneyState(),
                context: CommandContext()
            ).events.first)
        started.data = started.data.replacingOccurrences(of: try #require(catalog.current("renewal")).version.description, with: "2019.1+00000000deadbeef")
        try await store.append(to: "journey-lost-1", expected: .noStream, events: [started])

        do {
            try await client.send(.reachMilestone("usage-reviewed"), to: "lost-1")
            Issue.record("a command to a journey of an unknown version was decided")
        } catch let error as ClientError {
            #expect(error.code == .unknownDefinitionVersion && error.message.contains("2019.1+00000000deadbeef"), "\(error)")
        }
        let runner = try ProjectionRunner(
            store: store, projections: [JourneysProjection(catalog: catalog)], analyticsSchema: store.schema + "_analytics",
            standbyInterval: .milliseconds(100), logger: TestDatabase.quietLogger)
        let stopped = try await withServices([runner]) { try await eventually { try await runner.builds().contains { $0.state == .failed } } }
        #expect(stopped)
        let failed = try #require(try await runner.builds().first)
        #expect(
            failed.failedEventId == started.id && failed.error?.contains("2019.1+00000000deadbeef") == true && failed.error?.contains("known nowhere") == true)
    }
}
