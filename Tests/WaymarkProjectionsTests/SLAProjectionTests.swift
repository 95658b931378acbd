import Foundation
import PropertyBased
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkSimulation
import WaymarkTesting

/// An instant written as `2026-11-24T20:00:00Z`.
func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

func on(_ text: String) -> CommandContext { CommandContext(commandId: UUID(), actor: "test", sourceSystem: "erp", occurredAt: utc(text)) }

let shippedCalendars = try! DefinitionLoader.load(directory: configDirectory).calendars

@Suite("SLA projection")
struct SLAProjectionTests {
    @Test("business timelines: hours, a holiday, weekends and a DST change, business days of each calendar's length")
    func timelines() {
        let us = BusinessTimeline(shippedCalendars["us-business"]!)
        // Tue 2026-11-24 15:00 EST to Mon 30 10:00: Tue 2 h, Wed 8 h, Thanksgiving 0, Fri 8 h, weekend 0, Mon 1 h.
        #expect(us.seconds(from: utc("2026-11-24T20:00:00Z"), to: utc("2026-11-30T15:00:00Z")) == 19 * 3_600)
        #expect(us.adding(56 * 3_600, to: utc("2026-11-24T20:00:00Z")) == utc("2026-12-04T20:00:00Z"))
        // From outside business hours the count starts at the next opening.
        #expect(us.adding(3_600, to: utc("2026-11-28T12:00:00Z")) == utc("2026-11-30T15:00:00Z"))
        #expect(us.adding(0, to: utc("2026-11-28T12:00:00Z")) == utc("2026-11-28T12:00:00Z"))
        let emea = BusinessTimeline(shippedCalendars["emea-business"]!)
        // Berlin moves to summer time on Sunday 2026-03-29: Monday opens at 08:00 CEST, 06:00 UTC.
        // (In 2027 the change falls on Easter Sunday, between two holidays.)
        #expect(emea.seconds(from: utc("2026-03-27T14:00:00Z"), to: utc("2026-03-30T07:00:00Z")) == 3_600 + 3_600)
        #expect(shippedCalendars["emea-business"]!.businessDaySeconds == 34_560)
        #expect(shippedCalendars["us-business"]!.businessDaySeconds == 28_800)
        #expect(BusinessDuration(parsing: "3d")!.businessSeconds(in: shippedCalendars["us-business"]) == 24 * 3_600)
        #expect(BusinessDuration(parsing: "36h")!.businessSeconds(in: shippedCalendars["us-business"]) == 36 * 3_600)
        #expect(BusinessDuration(parsing: "1d4h")!.businessSeconds(in: nil) == 28 * 3_600)
    }

    @Test("the SQL functions the views call count business time exactly as the projection does")
    func sqlAgreesWithSwift() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        // With an empty log the build is caught up before it has made its functions: wait for them,
        // with the runner running.
        var prefix: String?
        try await withServices([fixture.runner]) {
            try await eventually(
                "the live sla build's business_seconds and business_add functions",
                observing: {
                    try await fixture.store.query(
                        """
                        SELECT proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname = \(fixture.store.schema) AND proname LIKE 'proj\\_sla\\_%\\_business\\_%' ORDER BY 1
                        """
                    ).map { try $0.decode(String.self, at: 0) }
                },
                until: { names in
                    guard let seconds = names.first(where: { $0.hasSuffix("_business_seconds") }) else { return false }
                    prefix = String(seconds.dropLast("_seconds".count))
                    return names.contains(prefix! + "_add")
                })
        }
        let found = try #require(prefix)
        let functions = "\(PostgresIdentifier.quote(fixture.store.schema)).\(found)"
        let names = shippedCalendars.keys.sorted()
        let timelines = names.map { BusinessTimeline(shippedCalendars[$0]!) }
        let base = utc("2026-01-01T00:00:00Z").timeIntervalSince1970
        let compared = Locked(0)
        await propertyCheck(
            count: 150, input: Gen.int(in: 0...(names.count)), Gen.int(in: 0...(730 * 86_400)), Gen.int(in: 0...(60 * 86_400)),
            Gen.int(in: 0...(400 * 3_600)),
            perform: recordingErrors { (which: Int, offset: Int, span: Int, add: Int) in
                let calendar = which < names.count ? names[which] : nil
                let timeline = which < names.count ? timelines[which] : nil
                let from = Date(timeIntervalSince1970: base + Double(offset))
                let to = from.addingTimeInterval(Double(span))
                let row = try await fixture.store.query(
                    PostgresQuery(
                        sql:
                            "SELECT \(functions)_seconds($1, $2::timestamptz, $3::timestamptz), extract(epoch FROM \(functions)_add($1, $2::timestamptz, $4::float8))::float8",
                        binds: [calendar, TimestampText.iso8601(from), TimestampText.iso8601(to), Double(add)]))[0]
                let (seconds, added) = try row.decode(Double.self, Double.self)
                let expectedSeconds = timeline?.seconds(from: from, to: to) ?? Double(span)
                let expectedAdded = timeline?.adding(Double(add), to: from) ?? from.addingTimeInterval(Double(add))
                #expect(abs(seconds - expectedSeconds) < 0.001, "\(calendar ?? "no calendar") from \(from) to \(to)")
                #expect(abs(added - expectedAdded.timeIntervalSince1970) < 0.001, "\(calendar ?? "no calendar") \(add) s after \(from)")
                compared.withLock { $0 += 1 }
            })
        #expect(compared.value >= 150, "every input compared a row of the SQL functions")
    }

    @Test("a clock paused while waiting on the customer, across Thanksgiving and a weekend, breaches after its pause; OLAs count business hours")
    func pauseAcrossHoliday() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        let id = "otc-1"
        // Standard tier, order-to-delivery default goal: 7 business days of 8 h in us-business, paused while waiting.
        try await client.send(
            .start(.init(journeyId: id, customerId: "c-a", journeyType: "order-to-cash", tier: "standard")), to: id, context: on("2026-11-24T20:00:00Z"))
        try await client.send(.waitOnCustomer(reason: "PO number"), to: id, context: on("2026-11-25T16:00:00Z"))
        try await client.send(.resume, to: id, context: on("2026-11-30T15:00:00Z"))
        // OLA 4 h: requested Mon 11:00 EST, accepted Tue 10:00 EST = 7 business hours.
        try await client.send(
            .requestHandoff(toStage: "credit-check", facts: ["order-total": "1200", "payment-terms": "net30"]), to: id, context: on("2026-11-30T16:00:00Z"))
        try await client.send(.acceptHandoff(by: "bea"), to: id, context: on("2026-12-01T15:00:00Z"))
        // OLA 2 h: one business hour.
        try await client.send(
            .requestHandoff(toStage: "picking", facts: ["credit-approval": "ok", "delivery-address": "x"]), to: id, context: on("2026-12-01T16:00:00Z"))
        try await client.send(.acceptHandoff(by: "finn"), to: id, context: on("2026-12-01T17:00:00Z"))
        try await client.send(.moveToStage("shipping"), to: id, context: on("2026-12-02T15:00:00Z"))
        try await client.send(.requestHandoff(toStage: "invoicing", facts: ["proof-of-delivery": "pod"]), to: id, context: on("2026-12-09T14:00:00Z"))
        try await client.send(.acceptHandoff(by: "bea"), to: id, context: on("2026-12-09T15:00:00Z"))
        try await fixture.runUntilCaughtUp("sla")

        let columns = """
            goal, tier, state, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), (extract(epoch FROM paused_total) / 3600)::float8::text,
            (extract(epoch FROM target) / 3600)::float8::text, (extract(epoch FROM elapsed) / 3600)::float8::text, (extract(epoch FROM remaining) / 3600)::float8::text,
            percent_elapsed::text, to_char(breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), to_char(original_breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'),
            to_char(reached_50_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), to_char(reached_75_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'),
            to_char(reached_100_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), ever_breached::text, breach_department
            """
        let sla = try await fixture.view("sla", columns, order: "goal")
        // 4 h before the pause; 15 business hours paused (Wed 11-17, Thanksgiving none, Fri 8, Mon 9-10);
        // then 56 h from Mon 10:00 EST to Wed Dec 9 10:00 EST: 60 h in all against 56.
        #expect(
            sla == [
                [
                    "order-to-delivery", "standard", "breached-closed", "2026-11-24T20:00", "15", "56", "60", "-4", "107.1", "2026-12-08T19:00",
                    "2026-12-04T20:00", "2026-12-03T15:00", "2026-12-04T21:00", "2026-12-08T19:00", "true", "fulfilment",
                ]
            ])
        let ola = try await fixture.view(
            "ola",
            "handoff_no::text, from_department, to_department, outcome, state, (extract(epoch FROM elapsed) / 3600)::float8::text, to_char(breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI')",
            order: "handoff_no")
        #expect(
            ola == [
                ["1", "sales", "billing", "accepted", "breached-closed", "7", "2026-11-30T20:00"],
                ["2", "billing", "fulfilment", "accepted", "met", "1", "2026-12-01T18:00"],
                ["3", "fulfilment", "billing", "accepted", "met", "1", "2026-12-09T22:00"],
            ])
    }

    @Test("a tier change mid-SLA matches the goal again: the new target counts from the time already elapsed, and no longer pauses")
    func tierChange() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        let directory = CustomerDirectory(client: client, tiers: client.catalog.tiers)
        try await directory.register(customerId: "c-b", name: PersonalData("Bolt Ltd"), tier: "standard", context: on("2026-11-01T12:00:00Z"))
        let id = "otc-2"
        try await client.send(
            .start(.init(journeyId: id, customerId: "c-b", journeyType: "order-to-cash", tier: "standard")), to: id, context: on("2026-12-01T14:00:00Z"))
        // After 8 business hours the customer becomes enterprise: 3 business days (24 h), not paused while waiting.
        try await directory.changeTier(customerId: "c-b", to: "enterprise", context: on("2026-12-02T14:00:00Z"))
        try await client.send(.waitOnCustomer(reason: "call back"), to: id, context: on("2026-12-03T14:00:00Z"))
        try await client.send(.resume, to: id, context: on("2026-12-03T16:00:00Z"))
        try await client.send(
            .requestHandoff(toStage: "credit-check", facts: ["order-total": "1", "payment-terms": "net30"]), to: id, context: on("2026-12-03T17:00:00Z"))
        try await client.send(.acceptHandoff(by: "bea"), to: id, context: on("2026-12-03T17:10:00Z"))
        try await client.send(
            .requestHandoff(toStage: "picking", facts: ["credit-approval": "ok", "delivery-address": "x"]), to: id, context: on("2026-12-03T17:20:00Z"))
        try await client.send(.acceptHandoff(by: "finn"), to: id, context: on("2026-12-03T17:30:00Z"))
        try await client.send(.moveToStage("shipping"), to: id, context: on("2026-12-03T17:40:00Z"))
        try await client.send(.requestHandoff(toStage: "invoicing", facts: ["proof-of-delivery": "pod"]), to: id, context: on("2026-12-03T19:00:00Z"))
        try await client.send(.acceptHandoff(by: "bea"), to: id, context: on("2026-12-03T20:00:00Z"))
        // A second journey of the customer, cancelled: its clock stops as cancelled.
        try await client.send(
            .start(.init(journeyId: "otc-3", customerId: "c-b", journeyType: "order-to-cash", tier: "enterprise")), to: "otc-3",
            context: on("2026-12-03T14:00:00Z"))
        try await client.send(.cancel(reason: "duplicate order"), to: "otc-3", context: on("2026-12-03T15:00:00Z"))
        try await fixture.runUntilCaughtUp("sla")

        let rows = try await fixture.view(
            "sla",
            """
            journey_id, tier, state, (extract(epoch FROM paused_total) / 3600)::float8::text, (extract(epoch FROM target) / 3600)::float8::text, (extract(epoch FROM elapsed) / 3600)::float8::text,
            to_char(breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), to_char(original_breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'),
            to_char(reached_50_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), to_char(reached_75_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'),
            (reached_100_at IS NULL)::text, ever_breached::text
            """,
            order: "journey_id")
        // Tue 8 h + Wed 8 h + Thu 09:00-15:00 EST 6 h = 22 h of 24: met, though it waited on the customer.
        #expect(
            rows == [
                [
                    "otc-2", "enterprise", "met", "0", "24", "22", "2026-12-03T22:00", "2026-12-09T22:00", "2026-12-02T18:00", "2026-12-03T16:00", "true",
                    "false",
                ],
                ["otc-3", "enterprise", "cancelled", "0", "24", "1", "2026-12-07T22:00", "2026-12-07T22:00", nil, nil, "true", "false"],
            ])
    }

    /// In one batch the merge and the tier change meet in memory; in batches of one event each
    /// finds the journey among the stored open journeys of the customer.
    @Test(
        "a merge moves the duplicate's open journeys to the survivor's tier, and the survivor's later tier changes reach them", arguments: [200, 1])
    func mergeFollowsSurvivor(batchSize: Int) async throws {
        let fixture = try await Fixture(batchSize: batchSize) { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        let directory = CustomerDirectory(client: client, tiers: client.catalog.tiers)
        try await directory.register(customerId: "c-main", name: PersonalData("Main Ltd"), tier: "enterprise", context: on("2026-11-01T12:00:00Z"))
        try await directory.register(customerId: "c-dup", name: PersonalData("Main Limited"), tier: "standard", context: on("2026-11-02T12:00:00Z"))
        try await client.send(
            .start(.init(journeyId: "otc-m", customerId: "c-dup", journeyType: "order-to-cash", tier: "standard")), to: "otc-m",
            context: on("2026-12-01T14:00:00Z"))
        // After 8 business hours the duplicate merges into the enterprise survivor: 24 h target, so
        // 50 % is reached at 12 h (Wed 13:00 EST); at 14 h the survivor becomes standard: 56 h.
        try await directory.merge("c-dup", into: "c-main", context: on("2026-12-02T14:00:00Z"))
        try await directory.changeTier(customerId: "c-main", to: "standard", context: on("2026-12-02T20:00:00Z"))
        try await client.send(.cancel(reason: "merged order"), to: "otc-m", context: on("2026-12-03T14:00:00Z"))
        try await fixture.runUntilCaughtUp("sla")
        let rows = try await fixture.view(
            "sla",
            """
            journey_id, customer_id, tier, state, (extract(epoch FROM target) / 3600)::float8::text, (extract(epoch FROM elapsed) / 3600)::float8::text,
            to_char(reached_50_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), to_char(original_breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI')
            """,
            order: "journey_id")
        #expect(rows == [["otc-m", "c-main", "standard", "cancelled", "56", "16", "2026-12-02T18:00", "2026-12-09T22:00"]])
    }

    @Test("an open clock's figures are computed when read: elapsed, remaining and breached-running follow now()")
    func readNow() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        // A strategic support case (first response within 1 h of support-extended hours) opened on a
        // fixed Sunday long ago, outside business hours (so the count must start at Monday's
        // opening), and a standard one (one business day) opened as the test runs, which cannot
        // have used its day by the time it is read, whatever the day.
        let opened = utc("2025-01-05T12:00:00Z")
        try await fixture.client.send(
            .start(.init(journeyId: "case-old", customerId: "c", journeyType: "support-case", tier: "strategic")), to: "case-old",
            context: CommandContext(occurredAt: opened))
        try await fixture.client.send(
            .start(.init(journeyId: "case-new", customerId: "c", journeyType: "support-case", tier: "standard")), to: "case-new",
            context: CommandContext(occurredAt: Date()))
        try await fixture.runUntilCaughtUp("sla")
        let timeline = BusinessTimeline(shippedCalendars["support-extended"]!)
        let before = timeline.seconds(from: opened, to: Date())
        let rows = try await fixture.view(
            "sla",
            "journey_id, state, extract(epoch FROM elapsed)::float8::text, extract(epoch FROM remaining)::float8::text, ever_breached::text, (reached_100_at IS NOT NULL)::text",
            order: "journey_id")
        let after = timeline.seconds(from: opened, to: Date())
        #expect(rows.map { [$0[0], $0[1], $0[4], $0[5]] } == [["case-new", "running", "false", "false"], ["case-old", "breached-running", "true", "true"]])
        let elapsed = Double(rows[1][2]!)!
        #expect(elapsed >= before - 0.001 && elapsed <= after + 0.001)
        #expect(abs(Double(rows[1][3]!)! - (3_600 - elapsed)) < 0.001)
    }
}

@Suite("SLA projection rebuild")
struct SLARebuildTests {
    @Test("clocks built live while a simulation appends equal a rebuild's; the switch drops the old build's tables and functions")
    func rebuildMatchesLive() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        let simulator = Simulator(client: fixture.client, logger: TestDatabase.quietLogger)
        let until = Date(timeIntervalSince1970: 1_780_000_000)
        let schema = PostgresIdentifier.quote(fixture.store.schema)
        let snapshot = { (build: Int) in
            // The clocks, and each journey's own fields its fold is read back from.
            try await fixture.store.query(
                PostgresQuery(
                    sql: """
                        SELECT c::text FROM \(schema).proj_sla_v5b\(build)_clocks c
                        UNION ALL SELECT j::text FROM \(schema).proj_sla_v5b\(build)_journeys j ORDER BY 1
                        """)
            )
            .map { try $0.decode(String.self, at: 0) }
        }
        var live: [String] = []
        try await withServices([fixture.runner]) {
            try await simulator.run(SimulationOptions(journeys: 150, seed: 7, until: until, senders: 2))
            try await fixture.caughtUp("sla")
            live = try await snapshot(1)
            #expect(try await fixture.runner.requestRebuild("sla") == 2)
            try await eventually("build 2 of sla to go live") {
                try await fixture.runner.status().contains { $0.record.build == 2 && $0.record.state == .live }
            }
            // The old build's tables and functions go right after the switch.
            try await eventually("the tables and functions of build 1 to be dropped") {
                try await fixture.store.query(
                    """
                    SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = \(fixture.store.schema) AND tablename LIKE 'proj\\_sla\\_v5b1\\_%')
                        + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                           WHERE n.nspname = \(fixture.store.schema) AND proname LIKE 'proj\\_sla\\_v5b1\\_%')
                    """)[0].decode(Int64.self, at: 0) == 0
            }
        }
        #expect(live.count > 150 && live.contains { $0.contains(",ola,") } && live.contains { $0.contains("breached-closed") })
        #expect(try await snapshot(2) == live)
        let leftovers = try await fixture.store.query(
            "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = \(fixture.store.schema) AND proname LIKE 'proj_sla_%' ORDER BY 1"
        )
        #expect(try leftovers.map { try $0.decode(String.self, at: 0) } == ["proj_sla_v5b2_business_add", "proj_sla_v5b2_business_seconds"])
        #expect(try await fixture.view("sla", "count(*)::text", order: "1") == [["150"]])
    }
}
