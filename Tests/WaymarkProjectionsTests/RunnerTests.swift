import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkSimulation
import WaymarkTesting

/// Counts events per type; fails on events of a type named in `failOn` while that is set.
struct CountingProjection: Projection {
    let name = "counts"
    let version = 1
    let source = SubscriptionSource.all
    let failOn: Locked<String?>

    func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute("CREATE TABLE \(tables.name("counts")) (event_type text PRIMARY KEY, events bigint NOT NULL)")
    }

    func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        if let bad = failOn.value, let event = events.first(where: { $0.type == bad }) { throw ProjectionError(event, "cannot count \(bad) yet") }
        try await transaction.execute(
            """
            INSERT INTO \(tables.name("counts")) SELECT t, count(*) FROM unnest(\(PostgresArray(events.map(\.type)))::text[]) t GROUP BY t
            ON CONFLICT (event_type) DO UPDATE SET events = \(tables.name("counts")).events + EXCLUDED.events
            """)
        return 0
    }

    func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [("event_counts", "SELECT event_type, events FROM \(tables.name("counts"))")]
    }
}

@Suite("Projection runner")
struct RunnerTests {
    @Test("an event a projection cannot apply stops it with the event named; the others go on; retry resumes it")
    func failureAndRetry() async throws {
        let failOn = Locked<String?>("FeedbackReceived")
        let fixture = try await Fixture { [JourneysProjection(catalog: $0), CountingProjection(failOn: failOn)] }
        defer { Task { await fixture.store.close() } }
        let id = "f-1"
        try await fixture.client.send(.start(.init(journeyId: id, customerId: "c", journeyType: "support-case", tier: "standard")), to: id)
        let feedback = try await fixture.client.send(.recordFeedback(.init(kind: .csat, score: 5, channel: "email")), to: id)
        try await withServices([fixture.runner]) {
            try await fixture.caughtUp("journeys")
            try await eventually("the counts projection to be marked failed") {
                try await fixture.runner.status().contains { $0.record.name == "counts" && $0.record.state == .failed }
            }
            let failed = try await fixture.runner.status().first { $0.record.name == "counts" }!
            #expect(failed.record.failedEventId == feedback.events[0].id && failed.record.failedPosition == feedback.events[0].position)
            #expect(failed.record.error?.contains("cannot count FeedbackReceived yet") == true)
            #expect(failed.lagEvents >= 1)
            failOn.withLock { $0 = nil }
            #expect(try await fixture.runner.retry("counts") == 1)
            try await fixture.caughtUp("counts")
        }
        let counts = try await fixture.view("event_counts", "event_type, events::text", order: "event_type")
        #expect(counts == [["DefinitionVersionRecorded", "1"], ["FeedbackReceived", "1"], ["JourneyStarted", "1"]])
    }

    @Test("each projection has a commit signal, bumped after its batches commit and after its views switch builds")
    func commitSignal() async throws {
        let fixture = try await Fixture { [JourneysProjection(catalog: $0), CountingProjection(failOn: Locked(nil))] }
        defer { Task { await fixture.store.close() } }
        #expect(fixture.runner.committed.keys.sorted() == ["counts", "journeys"])
        let journeys = try #require(fixture.runner.committed["journeys"])
        // s-0 and its definition's record, one transaction: the first build takes them in one batch.
        try await fixture.client.send(.start(.init(journeyId: "s-0", customerId: "c", journeyType: "support-case", tier: "standard")), to: "s-0")
        try await withServices([fixture.runner]) {
            try await fixture.caughtUp("journeys")
            // The first build is live from its start: one bump, for its batch.
            try await eventually("the batch announced", observing: { journeys.generation }, until: { $0 == 1 })
            let before = journeys.generation
            try await fixture.client.send(.start(.init(journeyId: "s-1", customerId: "c", journeyType: "support-case", tier: "standard")), to: "s-1")
            await journeys.wait(after: before, timeout: TestTime.deadline)
            #expect(journeys.generation != before, "the journeys projection's batch committed without a bump")
            // Bumped after the commit, not before: the reader it wakes finds the journey at once.
            #expect(try await fixture.view("journeys", "journey_id", order: "journey_id") == [["s-0"], ["s-1"]])

            // A rebuild: its one batch, then the views switching to it.
            try await eventually("s-1's batch announced", observing: { journeys.generation }, until: { $0 == before + 1 })
            let build = try await fixture.runner.requestRebuild("journeys")
            try await eventually("the rebuild live") {
                try await fixture.runner.builds().contains { $0.name == "journeys" && $0.build == build && $0.state == .live }
            }
            try await eventually("the rebuild's batch and switch announced", observing: { journeys.generation }, until: { $0 == before + 3 })
        }
    }

    @Test("a rebuild or a retry asked for in another process is announced to the runners when it commits")
    func changesAreAnnounced() async throws {
        let failOn = Locked<String?>("JourneyStarted")
        let fixture = try await Fixture { _ in [CountingProjection(failOn: failOn)] }
        defer { Task { await fixture.store.close() } }
        try await fixture.client.send(.start(.init(journeyId: "n-1", customerId: "c", journeyType: "support-case", tier: "standard")), to: "n-1")
        let heard = Locked<[String]>([])
        let channel = String("waymark_projections_\(fixture.store.schema)".prefix(63))
        let listener = PostgresListener(configuration: fixture.store.pool.configuration, channels: [channel], logger: TestDatabase.quietLogger) {
            event in
            if case .notification(let name, let payload) = event { heard.withLock { $0.append(payload.isEmpty ? name : payload) } }
        }
        listener.start()
        defer { Task { await listener.stop() } }
        // Another process's request: a runner of its own that is not running.
        let other = try ProjectionRunner(
            store: fixture.store, projections: [CountingProjection(failOn: failOn)], analyticsSchema: fixture.runner.analyticsSchema,
            logger: TestDatabase.quietLogger)
        try await withServices([fixture.runner]) {
            try await eventually("the counts projection to be marked failed") {
                try await fixture.runner.status().contains { $0.record.name == "counts" && $0.record.state == .failed }
            }
            #expect(heard.value.isEmpty)
            failOn.withLock { $0 = nil }
            #expect(try await other.retry("counts") == 1)
            try await eventually("heard.value == [channel]", observing: { heard.value }, until: { $0 == [channel] })
            try await fixture.caughtUp("counts")
            let build = try await other.requestRebuild("counts")
            try await eventually("heard.value == [channel, channel]", observing: { heard.value }, until: { $0 == [channel, channel] })
            try await eventually("build \(build) to go live") {
                try await fixture.runner.builds().contains { $0.build == build && $0.state == .live }
            }
        }
        // A retry with nothing failed changes nothing and announces nothing.
        #expect(try await other.retry("counts") == 0)
        // Notifications arrive in commit order: once a marker sent after the retry is heard, one
        // the retry sent would have been heard before it.
        try await fixture.store.query("SELECT pg_notify(\(channel), 'marker')")
        try await eventually("the marker", observing: { heard.value }, until: { $0.last == "marker" })
        #expect(heard.value == [channel, channel, "marker"])
    }

    @Test("a rebuild while appends continue switches the views to the new build once it caught up, drops the old tables, and gives what a clean build gives")
    func rebuildWhileAppending() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let simulator = Simulator(client: fixture.client, logger: TestDatabase.quietLogger)
        let until = Date(timeIntervalSince1970: 1_780_000_000)
        try await simulator.run(SimulationOptions(journeys: 120, seed: 1, until: until, senders: 2))
        // Every stored column of the three views (not the ones computed from the clock).
        let snapshot = {
            try await fixture.view(
                "journeys",
                "journey_id, journey_type, definition_version, customer_id, tier, stage, department, owner, status, started_at::text, ended_at::text, stage_entered_at::text, waiting_since::text, handoffs::text, handoffs_rejected::text, reassignments::text, rework_loops::text, last_csat::text, last_nps::text, last_event_at::text",
                order: "journey_id")
                + fixture.view(
                    "time_in_status", "journey_id, visit_no::text, stage, department, owner, entered_at::text, left_at::text, left_for",
                    order: "journey_id, visit_no")
                + fixture.view(
                    "handoffs", "journey_id, handoff_no::text, from_stage, to_stage, requested_at::text, decided_at::text, outcome, decided_by, reason",
                    order: "journey_id, handoff_no")
        }
        try await withServices([fixture.runner]) {
            try await fixture.caughtUp("journeys")
            let build = try await fixture.runner.requestRebuild("journeys")
            #expect(build == 2)
            // Autovacuum stays off a build's tables until it goes live.
            let autovacuumOff = {
                try await fixture.store.query(
                    """
                    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = \(fixture.store.schema) AND c.relkind = 'r' AND c.relname LIKE 'proj\\_journeys\\_v4b2\\_%'
                      AND 'autovacuum_enabled=false' = ANY(c.reloptions) ORDER BY 1
                    """
                ).map { try $0.decode(String.self, at: 0) }
            }
            try await eventually("autovacuumOff().count == 4", observing: { try await autovacuumOff().count }, until: { $0 == 4 })
            // Appends go on while build 2 fills its tables; the views read build 1 meanwhile.
            try await simulator.run(SimulationOptions(journeys: 120, seed: 2, until: until, senders: 2))
            try await eventually("build 2 of journeys to go live") {
                try await fixture.runner.status().contains { $0.record.build == 2 && $0.record.state == .live }
            }
            try await fixture.caughtUp("journeys")
            // The old build's tables go right after the switch.
            try await eventually("the tables of build 1 to be dropped") {
                try await fixture.store.query(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = \(fixture.store.schema) AND tablename LIKE 'proj\\_journeys\\_v4b1\\_%'")[0]
                    .decode(Int64.self, at: 0) == 0
            }
            // Live now: autovacuum is back, and the planner has statistics.
            #expect(try await autovacuumOff().isEmpty)
            try await eventually("statistics on the four tables of build 2") {
                try await fixture.store.query(
                    """
                    SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = \(fixture.store.schema) AND relname LIKE 'proj\\_journeys\\_v4b2\\_%'
                      AND last_analyze IS NOT NULL
                    """)[0].decode(Int64.self, at: 0) == 4
            }
        }
        let rebuilt = try await snapshot()
        #expect(try await fixture.view("journeys", "journey_id", order: "journey_id").count == 240 && rebuilt.count > 240 * 4)
        let tables = try await fixture.store.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = \(fixture.store.schema) AND tablename LIKE 'proj_journeys_%' ORDER BY 1")
        #expect(
            try tables.map { try $0.decode(String.self, at: 0) } == [
                "proj_journeys_v4b2_customers", "proj_journeys_v4b2_handoffs", "proj_journeys_v4b2_journeys", "proj_journeys_v4b2_stage_visits",
            ])
        // The live build got the indexes only readers need when it went live.
        let indexes = try await fixture.store.query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = \(fixture.store.schema) AND indexname LIKE 'proj\\_journeys\\_%\\_idx' ORDER BY 1")
        #expect(
            try indexes.map { try $0.decode(String.self, at: 0) } == [
                "proj_journeys_v4b2_customers_survivor_id_idx", "proj_journeys_v4b2_journeys_customer_id_idx",
                "proj_journeys_v4b2_journeys_journey_type_ended_at_idx", "proj_journeys_v4b2_journeys_open_by_stage_idx",
                "proj_journeys_v4b2_journeys_status_journey_type_idx",
            ])
        // A partial reader index indexes only its rows.
        let partial = try await fixture.store.query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = \(fixture.store.schema) AND indexname = 'proj_journeys_v4b2_journeys_open_by_stage_idx'")
        #expect(try partial.first?.decode(String.self, at: 0).hasSuffix("WHERE (ended_at IS NULL)") == true)
        // A second rebuild with nothing appended meanwhile gives the same rows.
        try await withServices([fixture.runner]) {
            try await fixture.runner.requestRebuild("journeys")
            try await eventually("build 3 of journeys to go live") {
                try await fixture.runner.status().contains { $0.record.build == 3 && $0.record.state == .live }
            }
        }
        #expect(try await snapshot() == rebuilt)
    }

    @Test("the analyst role reads the analytics views and nothing else, and writes nothing")
    func analystRole() async throws {
        let fixture = try await Fixture { standardProjections(catalog: $0) }
        defer { Task { await fixture.store.close() } }
        try await fixture.client.send(.start(.init(journeyId: "a-1", customerId: "c", journeyType: "renewal", tier: "standard")), to: "a-1")
        try await fixture.runUntilCaughtUp("journeys", "customers", "sla")
        var url = try TestDatabase.url()
        url = url.replacingOccurrences(of: "://waymark@", with: "://waymark_analyst@")
        let analyst = try await PostgresConnection.connect(PostgresConfiguration(url: url))
        defer { Task { await analyst.close() } }
        let analytics = PostgresIdentifier.quote(fixture.analytics)
        let schema = PostgresIdentifier.quote(fixture.store.schema)
        let rows = try await analyst.query(PostgresQuery(sql: "SELECT journey_id, status FROM \(analytics).journeys"))
        #expect(rows.count == 1)
        // The SLA view computes its clocks through functions over a table the analyst cannot read.
        let clocks = try await analyst.query(PostgresQuery(sql: "SELECT goal, state, elapsed FROM \(analytics).sla"))
        #expect(try clocks.map { try $0.decode(String.self, at: 0) } == ["renewal-closed"])
        for statement in [
            "SELECT data FROM \(schema).events", "SELECT * FROM \(schema).proj_journeys_v4b1_journeys",
            "SELECT * FROM \(schema).proj_sla_v5b1_calendar_intervals",
            "INSERT INTO \(schema).events (stream_name, stream_version, event_id, event_type, data) VALUES ('x-1', 1, gen_random_uuid(), 'X', '{}')",
            "DELETE FROM \(analytics).journeys", "CREATE TABLE \(analytics).mine (x int)", "CREATE TABLE public.mine (x int)",
        ] {
            do {
                try await analyst.query(PostgresQuery(sql: statement))
                Issue.record("the analyst could run: \(statement)")
            } catch let error as PostgresError {
                // 25006: the role's transactions are read-only.
                #expect(["42501", "0A000", "55000", "25006"].contains(error.code), "\(statement): \(error)")
            }
        }
    }
}
