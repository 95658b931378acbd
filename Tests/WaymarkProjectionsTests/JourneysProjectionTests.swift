import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

let configDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config")

struct Fixture {
    let client: WaymarkClient
    let runner: ProjectionRunner
    var store: EventStore { client.store }
    let analytics: String

    init(batchSize: Int = 200, projections: (JourneyCatalog) -> [any Projection] = { [JourneysProjection(catalog: $0)] }) async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        client = WaymarkClient(store: store, catalog: catalog, logger: TestDatabase.quietLogger)
        analytics = store.schema + "_analytics"
        runner = try ProjectionRunner(
            store: store, projections: projections(catalog), analyticsSchema: analytics, batchSize: batchSize, standbyInterval: .milliseconds(100),
            logger: TestDatabase.quietLogger)
    }

    /// Runs the projections until each of `names` has caught up with the log, then stops them.
    func runUntilCaughtUp(_ names: String...) async throws -> Bool {
        try await withServices([runner]) {
            for name in names.isEmpty ? ["journeys"] : names where !(try await runner.waitUntilCaughtUp(name)) { return false }
            return true
        }
    }

    /// Rows of an analytics view as text, ordered by `order`.
    func view(_ name: String, _ columns: String, order: String) async throws -> [[String?]] {
        let rows = try await store.query(
            PostgresQuery(sql: "SELECT \(columns) FROM \(PostgresIdentifier.quote(analytics)).\(PostgresIdentifier.quote(name)) ORDER BY \(order)"))
        return try rows.map { row in try (0..<row.columnCount).map { try row.decode(String?.self, at: $0) } }
    }
}

let t0 = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

func at(_ hours: Double) -> CommandContext {
    CommandContext(actor: "test", sourceSystem: "crm", occurredAt: t0.addingTimeInterval(hours * 3_600))
}

@Suite("Journeys projection")
struct JourneysProjectionTests {
    /// In batches of one event every fold is read back from the stored rows before each event.
    @Test(
        "a scripted journey's row, stage visits and handoffs match hand-computed figures; unknown events are counted, not errors",
        arguments: [200, 1])
    func scriptedJourney(batchSize: Int) async throws {
        let fixture = try await Fixture(batchSize: batchSize)
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        let id = "j-1"
        try await client.send(
            .start(.init(journeyId: id, customerId: "c-1", journeyType: "new-business", tier: "enterprise", owner: "ana")), to: id, context: at(0))
        try await client.send(.reachMilestone("discovery-call-held"), to: id, context: at(1))
        try await client.send(.moveToStage("proposal"), to: id, context: at(2))
        try await client.send(.waitOnCustomer(reason: "purchase order"), to: id, context: at(3))
        try await client.send(.resume, to: id, context: at(27))
        try await client.send(.moveToStage("qualification"), to: id, context: at(28))
        try await client.send(.moveToStage("proposal"), to: id, context: at(29))
        try await client.send(.moveToStage("contract"), to: id, context: at(30))
        try await client.append(to: "journey-\(id)", events: [EventData(type: "CRMNoteSynced", data: "{}")])
        let facts = ["signed-contract": "s", "billing-contact": "b", "kickoff-date": "k"]
        try await client.send(.requestHandoff(toStage: "kickoff", facts: facts), to: id, context: at(31))
        try await client.send(.rejectHandoff(by: "grace", reason: "no plan owner"), to: id, context: at(33))
        try await client.send(.requestHandoff(toStage: "kickoff", facts: facts.merging(["success-plan-owner": "g"]) { $1 }), to: id, context: at(34))
        try await client.send(.acceptHandoff(by: "grace"), to: id, context: at(40))
        try await client.send(.reassignOwner(to: "hugo"), to: id, context: at(41))
        try await client.send(.complete, to: id, context: at(50))
        try await client.send(.recordFeedback(.init(kind: .csat, score: 4, channel: "email")), to: id, context: at(60))
        try await client.send(.recordFeedback(.init(kind: .nps, score: 9, channel: "app")), to: id, context: at(61))

        #expect(try await fixture.runUntilCaughtUp())
        let journey = try await fixture.view(
            "journeys",
            "status, stage, department, owner, handoffs::text, handoffs_rejected::text, reassignments::text, rework_loops::text, last_csat::text, last_nps::text, extract(epoch FROM ended_at - started_at)::int::text",
            order: "journey_id")
        #expect(journey == [["completed", "kickoff", "onboarding", "hugo", "2", "1", "1", "2", "4", "9", "180000"]])
        let visits = try await fixture.view(
            "time_in_status", "stage, department, (extract(epoch FROM duration) / 3600)::int::text, left_for, is_current::text", order: "visit_no")
        #expect(
            visits == [
                ["qualification", "sales", "2", "proposal", "false"], ["proposal", "sales", "26", "qualification", "false"],
                ["qualification", "sales", "1", "proposal", "false"], ["proposal", "sales", "1", "contract", "false"],
                ["contract", "sales", "10", "kickoff", "false"], ["kickoff", "onboarding", "10", "completed", "false"],
            ])
        let handoffs = try await fixture.view(
            "handoffs", "from_department, to_department, outcome, decided_by, (extract(epoch FROM wait) / 3600)::int::text",
            order: "handoff_no")
        #expect(handoffs == [["sales", "onboarding", "rejected", "grace", "2"], ["sales", "onboarding", "accepted", "grace", "6"]])
        let status = try await fixture.runner.status()
        #expect(status.count == 1)
        #expect(status.first?.record.eventsIgnored == 1 && status.first?.record.eventsHandled == 18 && status.first?.lagEvents == 0)
    }

    @Test("the views compute clock figures when read: a journey past its stage's maximum dwell reads as stalled")
    func stalledNow() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        // Qualification allows 10 days; this journey entered it 30 days ago and another 1 hour ago.
        let long = CommandContext(occurredAt: Date().addingTimeInterval(-30 * 86_400))
        let recent = CommandContext(occurredAt: Date().addingTimeInterval(-3_600))
        for (id, context) in [("old", long), ("new", recent)] {
            try await fixture.client.send(
                .start(.init(journeyId: id, customerId: "c", journeyType: "new-business", tier: "standard")), to: id, context: context)
        }
        #expect(try await fixture.runUntilCaughtUp())
        let rows = try await fixture.view("journeys", "journey_id, status, (extract(epoch FROM time_in_stage) / 86400)::int::text", order: "journey_id")
        #expect(rows == [["new", "active", "0"], ["old", "stalled", "30"]])
    }
}
