import Foundation
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkTesting

/// `analytics.escalations`, the journeys view's escalation columns and `analytics.deadlines`.
/// The process manager's decisions are appended as it appends them (`store.append`: the client
/// refuses the domain's own types), at chosen times; the deadlines come from a real process manager.
@Suite("Escalations projection")
struct EscalationsProjectionTests {
    static func projections(_ catalog: JourneyCatalog) -> [any Projection] { [JourneysProjection(catalog: catalog), EscalationsProjection()] }

    /// Appends what the process manager records when escalation `level` of `journeyId` fires `hours` after t0.
    static func raise(
        _ fixture: Fixture, _ journeyId: String, level: Int, reason: JourneyEvent.EscalationRaised.Reason = .slaLadder,
        action: JourneyDefinition.EscalationAction = .notify, hours: Double, priority: Int? = nil, cycle: Int = 1
    ) async throws -> String {
        let decidedAt = t0.addingTimeInterval(hours * 3_600)
        let id = "\(journeyId)/escalation/first-response/\(cycle)/\(level)"
        let audit = DecisionAudit(
            rule: reason == .slaLadder ? .escalationLevel : .lowScore, deadlineId: id, goal: "first-response", level: level, definitionVersion: "v-test",
            stage: "triage", department: "service", tier: "strategic", since: t0, dueAt: decidedAt.addingTimeInterval(-90), decidedAt: decidedAt,
            stale: false, instance: "pm-test")
        var events: [JourneyEvent] = [
            .escalationRaised(
                .init(
                    escalationId: id, reason: reason, goal: "first-response", level: level, role: "support-manager", action: action,
                    queueOwner: action == .reassign ? "queue:support-managers" : nil, audit: audit))
        ]
        if let priority { events.append(.priorityRaised(.init(escalationId: id, priority: priority))) }
        _ = try await fixture.store.append(
            to: JourneyDecider.streamName(journeyId),
            events: try events.map {
                EventData(type: $0.type, data: try $0.encode(with: .standard, subject: nil), metadata: EventMetadata(occurredAt: decidedAt))
            })
        return id
    }

    /// Seconds since 1970 of `hours` after t0, as the views' times are compared.
    static func epoch(_ hours: Double) -> String { String(Int(t0.timeIntervalSince1970 + hours * 3_600)) }

    static func escalations(_ fixture: Fixture) async throws -> [[String?]] {
        try await fixture.view(
            "escalations",
            """
            journey_id, journey_type, escalation_id, reason, level::text, action, queue_owner, state, extract(epoch FROM raised_at)::bigint::text,
            extract(epoch FROM lateness)::int::text, acknowledged_by, extract(epoch FROM acknowledged_at)::bigint::text, note,
            extract(epoch FROM resolved_by_progress_at)::bigint::text
            """, order: "journey_id, escalation_id")
    }

    static func journeys(_ fixture: Fixture) async throws -> [[String?]] {
        try await fixture.view("journeys", "journey_id, escalations::text, open_escalation_level::text, priority::text", order: "journey_id")
    }

    /// In batches of one event every row is read back from the stored table before each event.
    @Test(
        "escalations raised, acknowledged and resolved by progress; the journeys view counts them, shows the open level and the priority; a rebuild gives the same rows",
        arguments: [200, 1])
    func raisedAcknowledgedResolved(batchSize: Int) async throws {
        let fixture = try await Fixture(batchSize: batchSize, projections: Self.projections)
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        try await client.send(.start(.init(journeyId: "e-1", customerId: "c-1", journeyType: "support-case", tier: "strategic")), to: "e-1", context: at(0))
        try await client.send(.start(.init(journeyId: "e-2", customerId: "c-2", journeyType: "support-case", tier: "strategic")), to: "e-2", context: at(0))
        let first = try await Self.raise(fixture, "e-1", level: 1, hours: 1)
        let second = try await Self.raise(fixture, "e-1", level: 2, action: .raisePriority, hours: 2, priority: 1)
        let other = try await Self.raise(fixture, "e-2", level: 1, hours: 1)
        try await client.send(.acknowledgeEscalation(escalationId: first, by: "lead-ann", note: "calling them"), to: "e-1", context: at(3))
        #expect(try await fixture.runUntilCaughtUp("journeys", "escalations"))
        #expect(
            try await Self.escalations(fixture) == [
                [
                    "e-1", "support-case", first, "sla_ladder", "1", "notify", nil, "acknowledged", Self.epoch(1), "90", "lead-ann", Self.epoch(3),
                    "calling them", nil,
                ],
                ["e-1", "support-case", second, "sla_ladder", "2", "raise-priority", nil, "open", Self.epoch(2), "90", nil, nil, nil, nil],
                ["e-2", "support-case", other, "sla_ladder", "1", "notify", nil, "open", Self.epoch(1), "90", nil, nil, nil, nil],
            ])
        #expect(try await Self.journeys(fixture) == [["e-1", "2", "2", "1"], ["e-2", "1", "1", "0"]])

        // Progress resolves every escalation raised before it (acknowledged or not); a later one is open.
        try await client.send(.moveToStage("investigation"), to: "e-1", context: at(4))
        let late = try await Self.raise(fixture, "e-1", level: 1, reason: .lowScore, action: .reassign, hours: 5, cycle: 2)
        try await client.send(.cancel(reason: "customer left"), to: "e-2", context: at(6))
        #expect(try await fixture.runUntilCaughtUp("journeys", "escalations"))
        let rows = try await Self.escalations(fixture)
        #expect(
            rows
                == [
                    [
                        "e-1", "support-case", first, "sla_ladder", "1", "notify", nil, "resolved", Self.epoch(1), "90", "lead-ann", Self.epoch(3),
                        "calling them", Self.epoch(4),
                    ],
                    ["e-1", "support-case", second, "sla_ladder", "2", "raise-priority", nil, "resolved", Self.epoch(2), "90", nil, nil, nil, Self.epoch(4)],
                    ["e-1", "support-case", late, "low_score", "1", "reassign", "queue:support-managers", "open", Self.epoch(5), "90", nil, nil, nil, nil],
                    ["e-2", "support-case", other, "sla_ladder", "1", "notify", nil, "resolved", Self.epoch(1), "90", nil, nil, nil, Self.epoch(6)],
                ].sorted { ($0[0]!, $0[2]!) < ($1[0]!, $1[2]!) })
        let journeys = try await Self.journeys(fixture)
        #expect(journeys == [["e-1", "3", "1", "1"], ["e-2", "1", nil, "0"]])

        // Rebuilt from the log, both give the same rows.
        try await withServices([fixture.runner]) {
            for name in ["journeys", "escalations"] {
                let build = try await fixture.runner.requestRebuild(name)
                try await eventually("build \(build) of \(name) to go live") {
                    try await fixture.runner.status().contains { $0.record.name == name && $0.record.build == build && $0.record.state == .live }
                }
            }
        }
        #expect(try await Self.escalations(fixture) == rows)
        #expect(try await Self.journeys(fixture) == journeys)
    }

    @Test(
        "analytics.deadlines lists the process manager's pending deadlines with goal, level and overdue; progress takes them away; the analyst reads both views"
    )
    func pendingDeadlines() async throws {
        let fixture = try await Fixture(projections: Self.projections)
        defer { Task { await fixture.store.close() } }
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let settings = try ProcessManagerSettings.load(directory: configDirectory, catalog: catalog)
        // Monday 5 January 2026, 08:00 in Dublin: the process manager's clock stays there, so
        // nothing fires, while every due time is long past for the database's now().
        let origin = Date(timeIntervalSince1970: 1_767_600_000)
        let context = CommandContext(commandId: UUID(), actor: "test", sourceSystem: "desk", occurredAt: origin)
        try await fixture.client.send(
            .start(.init(journeyId: "d-1", customerId: "c-1", journeyType: "support-case", tier: "strategic")), to: "d-1", context: context)
        // Schedules what the log holds, then stops.
        let schedule: () async throws -> Void = {
            let manager = try ProcessManager(
                store: fixture.store, definitions: DefinitionLibrary(catalog), settings: settings, time: WallTime(TestClock(), origin: origin),
                instance: "pm-1", logger: TestDatabase.quietLogger)
            let scheduled = try await withServices([manager]) { try await manager.waitUntilScheduled(timeout: TestTime.deadline) }
            #expect(scheduled)
        }
        try await schedule()
        #expect(try await fixture.runUntilCaughtUp("escalations"))
        let pending = try await fixture.view(
            "deadlines", "journey_id, kind, goal, level::text, percent::text, role, action, overdue::text, extract(epoch FROM due_at)::bigint::text",
            order: "kind, due_at")
        let minutes = { (m: Int) in String(Int(origin.timeIntervalSince1970) + m * 60) }
        // Strategic: first response in 1 h, its ladder at 30 min and 1 h; triage's dwell 4 h.
        #expect(
            pending == [
                ["d-1", "escalation_level", "first-response", "1", nil, "support-lead", "notify", "true", minutes(30)],
                ["d-1", "escalation_level", "first-response", "2", nil, "support-manager", "reassign", "true", minutes(60)],
                ["d-1", "sla_threshold", "first-response", nil, "50", nil, nil, "true", minutes(30)],
                ["d-1", "sla_threshold", "first-response", nil, "75", nil, nil, "true", minutes(45)],
                ["d-1", "sla_threshold", "first-response", nil, "100", nil, nil, "true", minutes(60)],
                ["d-1", "stage_stall", nil, nil, nil, nil, nil, "true", minutes(240)],
            ])
        // Moved on: the clock stops and the stall is for the new stage.
        try await fixture.client.send(
            .moveToStage("investigation"), to: "d-1",
            context: CommandContext(commandId: UUID(), actor: "test", sourceSystem: "desk", occurredAt: origin.addingTimeInterval(600)))
        try await schedule()
        #expect(try await fixture.view("deadlines", "kind", order: "kind") == [["stage_stall"]])

        var url = try TestDatabase.url()
        url = url.replacingOccurrences(of: "://waymark@", with: "://waymark_analyst@")
        let analyst = try await PostgresConnection.connect(PostgresConfiguration(url: url))
        defer { Task { await analyst.close() } }
        let analytics = PostgresIdentifier.quote(fixture.analytics)
        #expect(try await analyst.query(PostgresQuery(sql: "SELECT kind FROM \(analytics).deadlines")).count == 1)
        #expect(try await analyst.query(PostgresQuery(sql: "SELECT state FROM \(analytics).escalations")).isEmpty)
    }
}
