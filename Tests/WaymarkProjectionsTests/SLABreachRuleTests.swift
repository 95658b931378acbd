import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkProjections

/// The breach rule of issue 26, on the shipped definitions: by instants, the department holding the
/// journey at `breach_at`, and deadlines of clocks stopped while paused.
@Suite("SLA breach rule")
struct SLABreachRuleTests {
    static let instant = """
        to_char(breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), state, ever_breached::text,
        to_char(reached_100_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), breach_department
        """

    @Test("reaching the target is a breach: an OLA accepted at its deadline, or in the closed hours after it, is breached; a second before, met")
    func reachingIsBreach() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        // OLA 4 h of us-business, requested Mon 7 Dec 2026 13:00 EST: due at the close, 17:00 EST.
        let accepted = ["o-closed": "2026-12-08T03:00:00Z", "o-exact": "2026-12-07T22:00:00Z", "o-before": "2026-12-07T21:59:59Z"]
        for (id, acceptedAt) in accepted {
            try await fixture.client.send(
                .start(.init(journeyId: id, customerId: "c", journeyType: "order-to-cash", tier: "enterprise")), to: id, context: on("2026-12-07T14:00:00Z"))
            try await fixture.client.send(
                .requestHandoff(toStage: "credit-check", facts: ["order-total": "1", "payment-terms": "net30"]), to: id, context: on("2026-12-07T18:00:00Z"))
            try await fixture.client.send(.acceptHandoff(by: "bea"), to: id, context: on(acceptedAt))
        }
        #expect(try await fixture.runUntilCaughtUp("sla"))
        let rows = try await fixture.view("ola", "journey_id, \(Self.instant)", order: "journey_id")
        #expect(
            rows == [
                ["o-before", "2026-12-07T22:00:00", "met", "false", nil, nil],
                ["o-closed", "2026-12-07T22:00:00", "breached-closed", "true", "2026-12-07T22:00:00", "sales"],
                ["o-exact", "2026-12-07T22:00:00", "breached-closed", "true", "2026-12-07T22:00:00", "sales"],
            ])
    }

    @Test("the breach department is the one holding the journey at breach_at, not the one that received it in the closed hours after")
    func departmentAtBreach() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        // order-to-delivery for enterprise: 3 business days of 8 h, due Wed 9 Dec 2026 17:00 EST. The
        // journey goes from sales to billing after the close (d-after) or at the deadline itself (d-exact).
        for (id, acceptedAt) in ["d-after": "2026-12-09T23:00:00Z", "d-exact": "2026-12-09T22:00:00Z"] {
            try await fixture.client.send(
                .start(.init(journeyId: id, customerId: "c", journeyType: "order-to-cash", tier: "enterprise")), to: id, context: on("2026-12-07T14:00:00Z"))
            try await fixture.client.send(
                .requestHandoff(toStage: "credit-check", facts: ["order-total": "1", "payment-terms": "net30"]), to: id, context: on("2026-12-09T21:00:00Z"))
            try await fixture.client.send(.acceptHandoff(by: "bea"), to: id, context: on(acceptedAt))
            try await fixture.client.send(.cancel(reason: "withdrawn"), to: id, context: on("2026-12-10T15:00:00Z"))
        }
        #expect(try await fixture.runUntilCaughtUp("sla"))
        let rows = try await fixture.view("sla", "journey_id, department, \(Self.instant)", order: "journey_id")
        #expect(
            rows == [
                ["d-after", "billing", "2026-12-09T22:00:00", "cancelled", "true", "2026-12-09T22:00:00", "sales"],
                ["d-exact", "billing", "2026-12-09T22:00:00", "cancelled", "true", "2026-12-09T22:00:00", "sales"],
            ])
    }

    @Test("a clock stopped or cancelled while paused gets the deadline as if the pause had ended at the stop (the issue's example)")
    func stoppedWhilePaused() async throws {
        let fixture = try await Fixture { [SLAProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        // lead-to-live for strategic: 15 business days of 9.6 h = 144 h of emea-business, from Mon 2 Nov 2026 08:30 CET.
        for id in ["nb-stop", "nb-cancel"] {
            let client = fixture.client
            try await client.send(
                .start(.init(journeyId: id, customerId: "c", journeyType: "new-business", tier: "strategic")), to: id, context: on("2026-11-02T07:30:00Z"))
            try await client.send(.moveToStage("proposal"), to: id, context: on("2026-11-02T08:00:00Z"))
            try await client.send(.moveToStage("contract"), to: id, context: on("2026-11-02T09:00:00Z"))
            try await client.send(
                .requestHandoff(toStage: "kickoff", facts: ["signed-contract": "s", "billing-contact": "b", "kickoff-date": "k", "success-plan-owner": "o"]),
                to: id, context: on("2026-11-02T10:00:00Z"))
            try await client.send(.acceptHandoff(by: "grace"), to: id, context: on("2026-11-02T11:00:00Z"))
            try await client.send(.moveToStage("configuration"), to: id, context: on("2026-11-02T12:00:00Z"))
            try await client.send(
                .requestHandoff(toStage: "provisioning", facts: ["delivery-address": "a", "licence-count": "3"]), to: id, context: on("2026-11-03T08:00:00Z"))
            try await client.send(.acceptHandoff(by: "finn"), to: id, context: on("2026-11-03T09:00:00Z"))
            try await client.send(.requestHandoff(toStage: "go-live", facts: ["delivery-confirmed": "yes"]), to: id, context: on("2026-11-04T09:00:00Z"))
            // Waits on the customer from Wed 4 Nov 12:00 CET; Thu 5 Nov 14:00 CET the stop stage is entered, or the journey cancelled.
            try await client.send(.waitOnCustomer(reason: "sign-off"), to: id, context: on("2026-11-04T11:00:00Z"))
            if id == "nb-stop" {
                try await client.send(.acceptHandoff(by: "grace"), to: id, context: on("2026-11-05T13:00:00Z"))
            } else {
                try await client.send(.cancel(reason: "customer withdrew"), to: id, context: on("2026-11-05T13:00:00Z"))
            }
        }
        #expect(try await fixture.runUntilCaughtUp("sla"))
        let rows = try await fixture.view(
            "sla",
            """
            journey_id, state, (extract(epoch FROM elapsed) / 3600)::float8::text, to_char(breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'),
            to_char(original_breach_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI'), ever_breached::text
            """,
            order: "journey_id")
        // 23.5 h elapsed; 120.5 h remain from Thu 5 Nov 14:00 CET: Tue 24 Nov 10:30 CET, not Mon 23 Nov 08:30.
        #expect(
            rows == [
                ["nb-cancel", "cancelled", "23.5", "2026-11-24T09:30", "2026-11-23T07:30", "false"],
                ["nb-stop", "met", "23.5", "2026-11-24T09:30", "2026-11-23T07:30", "false"],
            ])
    }

    @Test("a clock counting past the last day whose holidays its calendar knows is noted (a metric and a warning), never silently")
    func pastKnownHolidays() throws {
        let calendars = try DefinitionLoader.parseCalendars(
            """
            calendars:
              listed:
                time_zone: Europe/Berlin
                hours: {monday: "09:00-17:00"}
                holidays: ["2026-12-25"]
              ruled:
                time_zone: Europe/Berlin
                hours: {monday: "09:00-17:00"}
                holidays: ["12-25", "2026-12-31"]
            """, file: "calendars.yaml")
        let timelines = calendars.mapValues { BusinessTimeline($0) }
        let horizon = CalendarHorizon(timelines, logger: TestDatabase.quietLogger)
        func clock(_ calendar: String, _ at: String) -> Clock {
            Clock(
                kind: .sla, name: "g", calendar: calendar, targetSeconds: 3_600, pausesWhileWaiting: true, tier: "t", at: utc(at), timeline: timelines[calendar]
            )
        }
        horizon.check(clock("listed", "2026-12-28T08:00:00Z"), journeyId: "j")
        horizon.check(clock("ruled", "2039-12-19T08:00:00Z"), journeyId: "j")
        #expect(horizon.clocksNoted == 0)
        // Explicit dates end with 2026; rules reach the horizon's end, 2039.
        horizon.check(clock("listed", "2027-01-04T08:00:00Z"), journeyId: "j")
        horizon.check(clock("listed", "2026-12-28T15:30:00Z"), journeyId: "j")
        horizon.check(clock("ruled", "2040-01-02T08:00:00Z"), journeyId: "j")
        #expect(horizon.clocksNoted == 3)
        #expect(calendars["listed"]!.holidaysKnownThrough == "2026-12-31" && calendars["ruled"]!.holidaysKnownThrough == "2039-12-31")
    }
}
