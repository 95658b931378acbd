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
    /// Past the deadline of a wait it fails the test, saying where the builds stood.
    @discardableResult
    func runUntilCaughtUp(_ names: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> Bool {
        try await withServices([runner]) {
            for name in names.isEmpty ? ["journeys"] : names where !(try await caughtUp(name, sourceLocation: sourceLocation)) { return false }
            return true
        }
    }

    /// Waits, with the runner running, until projection `name`'s live build has caught up with the
    /// log; past the deadline records a failure with the builds' states and checkpoints.
    @discardableResult
    func caughtUp(_ name: String, timeout: Duration = TestTime.standard, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Bool {
        let limit = TestTime.scaled(timeout)
        if try await runner.waitUntilCaughtUp(name, timeout: limit) { return true }
        let builds = try await runner.status().filter { $0.record.name == name }.map {
            "build \($0.record.build) \($0.record.state.rawValue) at \($0.checkpoint), lag \($0.lagEvents)"
        }
        Issue.record(
            "waited \(limit) for projection \(name) to catch up; saw last: \(builds.isEmpty ? "no build" : builds.joined(separator: "; "))",
            sourceLocation: sourceLocation)
        return false
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
    CommandContext(commandId: UUID(), actor: "test", sourceSystem: "crm", occurredAt: t0.addingTimeInterval(hours * 3_600))
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
        try await client.append(toStream: "journey-\(id)", events: [EventData(type: "CRMNoteSynced", data: "{}")])
        let facts = ["signed-contract": "s", "billing-contact": "b", "kickoff-date": "k"]
        try await client.send(.requestHandoff(toStage: "kickoff", facts: facts), to: id, context: at(31))
        try await client.send(.rejectHandoff(by: "grace", reason: "no plan owner"), to: id, context: at(33))
        try await client.send(.requestHandoff(toStage: "kickoff", facts: facts.merging(["success-plan-owner": "g"]) { $1 }), to: id, context: at(34))
        try await client.send(.acceptHandoff(by: "grace"), to: id, context: at(40))
        try await client.send(.reassignOwner(to: "hugo"), to: id, context: at(41))
        try await client.send(.complete, to: id, context: at(50))
        try await client.send(.recordFeedback(.init(kind: .csat, score: 4, channel: "email")), to: id, context: at(60))
        try await client.send(.recordFeedback(.init(kind: .nps, score: 9, channel: "app")), to: id, context: at(61))

        try await fixture.runUntilCaughtUp()
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
        // Qualification allows 10 days (wall clock). One journey entered it on a fixed day long ago,
        // the other as the test runs: whatever the day, the first is stalled and the second is not.
        let enteredLongAgo = Date(timeIntervalSince1970: 1_577_836_800)  // 2020-01-01T00:00:00Z
        let long = CommandContext(occurredAt: enteredLongAgo)
        let recent = CommandContext(occurredAt: Date())
        for (id, context) in [("old", long), ("new", recent)] {
            try await fixture.client.send(
                .start(.init(journeyId: id, customerId: "c", journeyType: "new-business", tier: "standard")), to: id, context: context)
        }
        try await fixture.runUntilCaughtUp()
        let before = Int(Date().timeIntervalSince(enteredLongAgo) / 86_400)
        let rows = try await fixture.view("journeys", "journey_id, status, floor(extract(epoch FROM time_in_stage) / 86400)::int::text", order: "journey_id")
        let after = Int(Date().timeIntervalSince(enteredLongAgo) / 86_400)
        #expect(rows.map { [$0[0], $0[1]] } == [["new", "active"], ["old", "stalled"]])
        #expect(rows.first?[2] == "0")
        #expect((before...after).map { String($0) }.contains(rows.last?[2] ?? ""))
    }
}
