import Foundation
import Testing
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
// Not @testable: the projection below uses only what another module may use.
import WaymarkProjections
import WaymarkTesting

/// A read model of another module, as the process manager or notifications would write one: how
/// many `WidgetTurned` events each widget had, with the public set-based helpers.
struct WidgetTurns: Projection {
    let name = "widget_turns"
    let version = 1
    let source = SubscriptionSource.category("widget")

    func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute("CREATE TABLE \(tables.name("turns")) (widget_id text PRIMARY KEY, turns int8 NOT NULL)")
    }

    func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        let batch = try DecodedBatch(events) { $0.type == "WidgetTurned" ? $0.type : nil }
        var widgets = StreamSlots()
        var turns: [Int64] = []
        for (recorded, id, _) in batch.events {
            let slot = widgets.slot(id, of: recorded)
            if slot == turns.count { turns.append(0) }
            turns[slot] += 1
        }
        let storedBefore = batch.idsStoredBefore()
        if !storedBefore.isEmpty {
            let rows = try await transaction.query(
                "SELECT widget_id, turns FROM \(tables.name("turns")) WHERE widget_id = ANY(\(PostgresArray(storedBefore))::text[])")
            for row in rows {
                let (id, stored) = try row.decode(String.self, Int64.self)
                turns[widgets.slot(id)] += stored
            }
        }
        try await StagedUpsert(tables: tables, table: "turns", columns: ["widget_id", "turns"], key: ["widget_id"])
            .write(0..<widgets.count, isNew: { widgets.beginsHere[$0] }, in: transaction) { slot, rows in
                rows.append(widgets.ids[slot])
                rows.append(bigint: turns[slot])
                rows.endRow()
            }
        return batch.ignored
    }

    func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [("widget_turns", "SELECT widget_id, turns FROM \(tables.name("turns"))")]
    }
}

@Suite("Projection set")
struct ProjectionSetTests {
    @Test("a projection of another module, added to the standard set, is built by the runner beside the standard ones")
    func addedProjectionRuns() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let projections = try ProjectionSet.standard(definitions: DefinitionLibrary(catalog)).adding(WidgetTurns())
        #expect(projections.names == ["journeys", "customers", "sla", "consent", "escalations", "notifications", "widget_turns"])
        let analytics = store.schema + "_analytics"
        let runner = try ProjectionRunner(store: store, projections: projections, analyticsSchema: analytics, batchSize: 3, logger: TestDatabase.quietLogger)
        let turned = { EventData(type: "WidgetTurned", data: "{}") }
        try await store.append(to: "widget-a", events: [turned(), turned(), EventData(type: "WidgetPainted", data: "{}")])
        try await store.append(to: "widget-b", events: [turned()])
        try await withServices([runner]) {
            #expect(try await runner.waitUntilCaughtUp("widget_turns", timeout: TestTime.scaled(.seconds(90))))
            // Widget a again, in a later batch: its stored count is read back and added to.
            try await store.append(to: "widget-a", events: [turned(), turned()])
            #expect(try await runner.waitUntilCaughtUp("widget_turns", timeout: TestTime.scaled(.seconds(90))))
            #expect(try await runner.waitUntilCaughtUp("journeys", timeout: TestTime.scaled(.seconds(90))))
        }
        let rows = try await store.query("SELECT widget_id, turns FROM \(identifier: analytics).widget_turns ORDER BY widget_id")
        #expect(try rows.map { try $0.decode(String.self, Int64.self) }.map { "\($0.0)=\($0.1)" } == ["a=4", "b=1"])
        let status = try #require(try await runner.status().first { $0.record.name == "widget_turns" })
        #expect(status.record.eventsIgnored == 1)
    }

    @Test("a set refuses a second projection of a name it has, and a name that cannot name tables")
    func namesAreChecked() throws {
        let set = try ProjectionSet([WidgetTurns()])
        #expect(throws: (any Error).self) { try set.adding(WidgetTurns()) }
        #expect(throws: (any Error).self) { try ProjectionSet([WidgetTurns(), WidgetTurns()]) }
        struct Badly: Projection {
            let name = "Widget-Turns"
            let version = 1
            let source = SubscriptionSource.all
            func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {}
            func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int { 0 }
            func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] { [] }
        }
        #expect(throws: (any Error).self) { try set.adding(Badly()) }
        #expect(set.names == ["widget_turns"])
    }
}
