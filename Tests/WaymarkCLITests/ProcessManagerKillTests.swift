import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

/// A drill journey whose deadlines come seconds after its start, around the clock: the SLA goal's
/// 50 % at 4 s, ladder level 1 at 5 s, 75 % at 6 s, the breach and level 2 (raise priority) at
/// 8 s, the stage's stall at 12 s.
private let drillDefinition = """
    journey_type: drill
    version: "1"
    description: A journey whose deadlines are seconds apart, for the process manager's fault tests.
    tiers: [standard]
    stages:
      - id: waiting
        department: service
        max_dwell: 12s
        milestones: [answered]
      - id: answered
        department: service
        max_dwell: 30d
        milestones: [closed]
    transitions:
      - {from: waiting, to: answered}
    sla:
      - name: answer
        default: true
        start: journey-started
        stop: stage:answered
        target: 8s
        escalation:
          - {after: 5s, role: lead, action: notify}
          - {after: 8s, role: manager, action: raise-priority}
    """

private let drillSettings = """
    routing:
      lead: queue:leads
      manager: queue:managers
      service-escalations: queue:service-escalations
      finance-operations: queue:finance-operations
    low_score: {role: service-escalations, csat_at_most: 2, nps_at_most: 6}
    compensations: {due_within: 2d, role: finance-operations}
    """

/// What the process manager records for a drill journey left waiting: by deadline, its events.
private let expectedDecisions: [String: [String]] = [
    "sla/answer/50": ["SlaThresholdCrossed"], "sla/answer/75": ["SlaThresholdCrossed"], "sla/answer/100": ["SlaBreached"],
    "escalation/answer/1": ["EscalationRaised", "NotificationRequested"], "escalation/answer/2": ["EscalationRaised", "PriorityRaised"],
    "stall/1": ["JourneyStalled"],
]

@Suite("waymark process-manager", .scaledTimeLimit(minutes: 5))
struct ProcessManagerKillTests {
    /// A configuration folder with the repository's calendars and the drill journey alone.
    static func drillConfiguration() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-drill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("journeys"), withIntermediateDirectories: true)
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try FileManager.default.copyItem(
            at: repository.appendingPathComponent("config/calendars.yaml"), to: folder.appendingPathComponent("calendars.yaml"))
        try drillDefinition.write(to: folder.appendingPathComponent("journeys/drill.yaml"), atomically: true, encoding: .utf8)
        try drillSettings.write(to: folder.appendingPathComponent("process-manager.yaml"), atomically: true, encoding: .utf8)
        return folder
    }

    @Test(
        "two process managers, one killed with SIGKILL again and again while thousands of deadlines come due: each decision once, none for journeys that moved on"
    )
    func killedAgainAndAgain() async throws {
        let folder = try Self.drillConfiguration()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("pmk")
        let database = ["--database-url", url, "--schema", schema, "--log-level", "warning"]
        let common = database + ["--definitions", folder.path]
        let (migrated, output) = try await waymark(["migrate"] + database)
        #expect(migrated == 0, "\(output)")
        let store = try cliStore(url: url, schema: schema)
        defer { Task { await store.close() } }
        let client = WaymarkClient(store: store, catalog: JourneyCatalog(try DefinitionLoader.load(directory: folder)), logger: TestDatabase.quietLogger)

        // What the instances log (warnings and errors) is kept for the failure messages.
        let logs = folder.appendingPathComponent("instances.log")
        func instance(_ name: String) throws -> Process {
            try startWaymark(["process-manager", "run", "--instance", name] + common, output: logs)
        }
        // 1,000 journeys, one in five moved on at once: 4,800 deadlines fire, 1,200 are cancelled.
        let journeys = (0..<1_000).map { String(format: "drill-%04d", $0) }
        let movedOn = Set(journeys.enumerated().filter { $0.offset % 5 == 0 }.map(\.element))
        func start(_ selected: [String]) async throws {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for part in 0..<4 {
                    group.addTask {
                        for journey in selected.enumerated().filter({ $0.offset % 4 == part }).map(\.element) {
                            guard movedOn.contains(journey) else {
                                try await client.send(.start(.init(customerId: "c-\(journey)", journeyType: "drill", tier: "standard")), to: journey)
                                continue
                            }
                            // Started and moved on a second later in one transaction: no process
                            // manager sees the journey before its move, however loaded the machine.
                            let started = Date()
                            try await store.transaction { transaction in
                                try await client.send(
                                    .start(.init(customerId: "c-\(journey)", journeyType: "drill", tier: "standard")), to: journey,
                                    context: CommandContext(occurredAt: started), in: transaction)
                                try await client.send(
                                    .moveToStage("answered"), to: journey, context: CommandContext(occurredAt: started.addingTimeInterval(1)), in: transaction)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var running = [try instance("pm-a"), try instance("pm-b")]
        try await start(journeys)

        func recorded() async throws -> Int {
            try await store.query(
                "SELECT count(*)::int8 FROM events WHERE category = 'journey' AND metadata->>'actor' = 'process-manager'")[0].decode(Int.self, at: 0)
        }
        let expectedCount = (journeys.count - movedOn.count) * expectedDecisions.values.map(\.count).reduce(0, +)
        // Kill pm-b every 0.5 to 1.1 s and restart it at once, until every decision is recorded;
        // count the kills that came while deadlines were still to fire. pm-a runs throughout.
        var kills = 0
        var killsMidway = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while try await recorded() < expectedCount, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500 + 200 * (kills % 4)))
            kill(running[1].processIdentifier, SIGKILL)
            _ = await running[1].exited()
            kills += 1
            let seen = try await recorded()
            if seen > 0 && seen < expectedCount { killsMidway += 1 }
            running[1] = try instance("pm-b")
        }
        #expect(killsMidway >= 5, "only \(killsMidway) kills came while deadlines were firing; the test proved little")

        let (status, statusOutput) = try await waymark(["process-manager", "status"] + common)
        #expect(status == 0, "\(statusOutput)")
        // Left: the stalls of the moved-on journeys' next stage, due in 30 days.
        #expect(statusOutput.contains("pending deadlines: \(movedOn.count), overdue: 0"), "\(statusOutput)")
        #expect(statusOutput.contains("stage_stall: \(movedOn.count) pending, 0 overdue"), "\(statusOutput)")
        #expect(statusOutput.contains("instance pm-a") && statusOutput.contains("instance pm-b"), "\(statusOutput)")
        for process in running {
            process.terminate()
            _ = await process.exited()
        }

        var byJourney: [String: [String: [String]]] = [:]
        var ids: [String: Int] = [:]
        for row in try await store.query(
            """
            SELECT stream_name, metadata->>'causation_id', event_type, event_id::text FROM events
            WHERE category = 'journey' AND metadata->>'actor' = 'process-manager' ORDER BY global_id
            """)
        {
            let (stream, cause, type, id) = try row.decode(String.self, String.self, String.self, String.self)
            let journey = String(stream.dropFirst("journey-".count))
            byJourney[journey, default: [:]][String(cause.dropFirst(journey.count + 1)), default: []].append(type)
            ids[id, default: 0] += 1
        }
        #expect(ids.values.allSatisfy { $0 == 1 })
        let decidedAnyway = movedOn.filter { byJourney[$0] != nil }.sorted()
        if let first = decidedAnyway.first {
            // The journey's log, to tell a late move from a deadline fired on a stale watch.
            let lines = try await store.readStream("journey-\(first)", limit: 100).events.map {
                "\($0.streamVersion) \($0.type) occurred \(TimestampText.iso8601($0.occurredAt)) recorded \(TimestampText.iso8601($0.recordedAt)) \($0.metadata.causationId ?? "")"
            }
            Issue.record("\(decidedAnyway.count) journeys that moved on got decisions, e.g. \(first):\n\(lines.joined(separator: "\n"))")
        }
        let wrong = journeys.filter { !movedOn.contains($0) && byJourney[$0] != expectedDecisions }
        #expect(
            wrong.count == 0,
            "\(wrong.count) journeys decided otherwise, e.g. \(wrong.first.map { "\($0): \(byJourney[$0] ?? [:])" } ?? ""); the instances logged:\n\((try? String(contentsOf: logs, encoding: .utf8))?.suffix(3_000) ?? "")"
        )
    }
}
