import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

/// One event no reader understands must not freeze the read side: it stops only the projections
/// that read it, names itself, and an operator can pass over it.
@Suite("Read-side faults")
struct ReadSideFaultTests {
    /// Writes an event with `occurredAt` as its metadata's occurred_at the way a SQL client could
    /// before migration 0007 checked it: the rows' check is lifted for the insert and put back NOT VALID.
    static func appendUnchecked(_ store: EventStore, stream: String, type: String, occurredAt: String) async throws -> UUID {
        let id = UUID()
        try await store.transaction { tx in
            try await tx.execute("ALTER TABLE events DROP CONSTRAINT events_row_check")
            try await tx.execute(
                """
                SELECT * FROM append_events(\(stream), 'any', NULL, ARRAY[\(id)]::uuid[], ARRAY[\(type)], ARRAY['{}'::jsonb],
                    ARRAY[jsonb_build_object('occurred_at', \(occurredAt)::text)])
                """)
            try await tx.execute(
                "ALTER TABLE events ADD CONSTRAINT events_row_check CHECK (event_row_holds(stream_name, stream_version, event_type, metadata)) NOT VALID")
        }
        return id
    }

    @Test("an unreadable occurred_at stops only the projections that read it, naming the event; skip records who and why, resumes, and rebuilds pass over it")
    func unreadableEventIsSkipped() async throws {
        // Batches of one event: the events before the bad one are projected (a batch is one transaction).
        let fixture = try await Fixture(batchSize: 1) { [JourneysProjection(catalog: $0), CustomersProjection()] }
        defer { Task { await fixture.store.close() } }
        try await fixture.client.send(.start(.init(journeyId: "u-1", customerId: "c-1", journeyType: "support-case", tier: "standard")), to: "u-1")
        let bad = try await Self.appendUnchecked(fixture.store, stream: "journey-u-1", type: "ShipmentDelayed", occurredAt: "next tuesday")
        try await fixture.client.send(.start(.init(journeyId: "u-2", customerId: "c-2", journeyType: "support-case", tier: "standard")), to: "u-2")
        let customers = CustomerDirectory(client: fixture.client, tiers: ["strategic", "enterprise", "standard"])
        try await customers.register(customerId: "c-9", name: PersonalData("Nine"), tier: "standard")

        try await withServices([fixture.runner]) {
            // The customers projection reads another category and goes on past the bad event.
            #expect(try await fixture.runner.waitUntilCaughtUp("customers", timeout: TestTime.deadline))
            #expect(
                try await eventually {
                    try await fixture.runner.builds().contains { $0.name == "journeys" && $0.state == .failed }
                })
            let failed = try #require(try await fixture.runner.builds().first { $0.name == "journeys" })
            #expect(failed.failedEventId == bad)
            #expect(failed.error?.contains("occurred_at 'next tuesday'") == true, "\(failed.error ?? "")")
            // The journey before the bad event is projected; the one after waits.
            #expect(try await fixture.view("journeys", "journey_id", order: "journey_id") == [["u-1"]])

            await #expect(throws: ProjectionCommandError.self) {
                try await fixture.runner.skip("journeys", event: UUID(), reason: "typo", by: "ops")
            }
            await #expect(throws: ProjectionCommandError.self) { try await fixture.runner.skip("journeys", event: bad, reason: "  ", by: "ops") }
            #expect(try await fixture.runner.skips().isEmpty)
            #expect(try await fixture.runner.skip("journeys", event: bad, reason: "ERP sent words for a date", by: "ops-lead") == 1)
            #expect(try await fixture.runner.waitUntilCaughtUp("journeys", timeout: TestTime.deadline))
            #expect(try await fixture.view("journeys", "journey_id", order: "journey_id") == [["u-1"], ["u-2"]])
            let skips = try await fixture.runner.skips("journeys")
            #expect(skips.map(\.eventId) == [bad] && skips[0].skippedBy == "ops-lead" && skips[0].reason == "ERP sent words for a date")
            #expect(skips[0].error.contains("next tuesday"))
            #expect(try await fixture.runner.builds().first { $0.name == "journeys" }?.eventsSkipped == 1)

            // A rebuild passes over the same event and goes live.
            let build = try await fixture.runner.requestRebuild("journeys")
            #expect(
                try await eventually {
                    try await fixture.runner.builds().contains { $0.name == "journeys" && $0.build == build && $0.state == .live }
                })
            let rebuilt = try #require(try await fixture.runner.builds().first { $0.name == "journeys" && $0.build == build })
            #expect(rebuilt.eventsSkipped == 1 && rebuilt.error == nil)
        }
    }

    @Test("the store refuses an occurred_at its readers cannot read and keeps every form they read, as PostgreSQL reads it")
    func occurredAtIsChecked() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        func append(_ occurredAt: String) async throws {
            try await store.query(
                """
                SELECT * FROM append_events('probe-1', 'any', NULL, ARRAY[gen_random_uuid()], ARRAY['Probe'], ARRAY['{}'::jsonb],
                    ARRAY[\(#"{"occurred_at":"#)::text || \(occurredAt) || '}']::jsonb[])
                """)
        }
        for refused in [#""2026-11-21 10:00:00""#, #""next tuesday""#, #""2026-02-30T10:00:00Z""#, "1763712000", #""2026-11-21T10:00:00+2""#] {
            do {
                try await append(refused)
                Issue.record("the store took occurred_at \(refused)")
            } catch let error as PostgresError {
                #expect(["23514", "22008"].contains(error.code), "\(refused): \(error)")
                #expect(error.code != "23514" || error.message.contains("events_occurred_at_check"), "\(error)")
            }
        }
        #expect(try await store.readStream("probe-1").events.isEmpty)
        let accepted = [
            #""2026-11-21T10:00:00+0200""#, #""2026-11-21T10:00:00+02""#, #""2026-11-21T10:00:00+02:00""#, #""2026-11-21 08:00:00Z""#,
            #""2026-11-21T03:30:00-04:30""#, #""2026-11-21T08:00:00.000000Z""#,
        ]
        for text in accepted { try await append(text) }
        let events = try await store.readStream("probe-1").events
        #expect(events.count == accepted.count)
        let expected = Date(timeIntervalSince1970: 1_795_248_000)  // 2026-11-21T08:00:00Z
        for event in events {
            #expect(event.occurredAt == expected && event.metadataProblem == nil, "\(event.metadata)")
        }
        // PostgreSQL reads every accepted text as the same instant.
        let distinct = try await store.query("SELECT count(DISTINCT (metadata->>'occurred_at')::timestamptz) FROM events")
        #expect(try distinct[0].decode(Int64.self, at: 0) == 1)
    }
}
