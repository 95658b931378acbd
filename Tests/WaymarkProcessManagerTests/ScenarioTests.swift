import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkTesting

/// The issue's reliability scenarios, each checked against due times worked out by hand from
/// config/ (calendars.yaml, journeys/*.yaml), not against what the code computes.
///
/// support-extended (Europe/Dublin, UTC+0 in December): Monday to Friday 07:00-12:00 and
/// 12:30-22:00, Saturday 09:00-15:00. emea-business (Europe/Berlin, UTC+1 in December): Monday to
/// Thursday 08:00-18:00, Friday 08:00-16:00, a business day of 48 h / 5 = 9.6 h; 24-26 December
/// closed. The fixture's origin is Monday 7 December 2026, 08:00 UTC.
@Suite("Process manager: pauses, tier changes, merges, rework loops and cancels", .scaledTimeLimit(minutes: 5))
struct ScenarioTests {
    @Test(
        "a strategic case paused on a Friday afternoon and resumed on Monday: 75 %, the breach and level 2 at Monday's business instants, nothing while paused"
    )
    func pauseOverTheWeekend() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        // Strategic first response: 1 h, ladder 30 m (support-lead) and 1 h (support-manager, reassign);
        // the goal pauses while waiting on the customer (the default). Opened Friday 11:50.
        try await fixture.client.send(
            .start(.init(customerId: "c-p", journeyType: "support-case", tier: "strategic", owner: "agent-1")), to: "case-p",
            context: fixture.context(utc("2026-12-11T11:50:00Z")))
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            // 11:50-12:00 and 12:30-12:50 make 30 minutes: 50 % and level 1.
            try await fixture.advance(until: utc("2026-12-11T12:51:00Z"))
            try await eventually("50 % and level 1", observing: { try await fixture.decisions("case-p").map(\.label) }) { $0.count == 2 }
            // Paused at 13:00 with 40 minutes counted; unpaused, 75 % would be at 13:05, the breach
            // and level 2 at 13:20, the stall (4 h, wall clock) at 15:50.
            try await fixture.client.send(.waitOnCustomer(reason: "logs requested"), to: "case-p", context: fixture.context(utc("2026-12-11T13:00:00Z")))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            #expect(try await fixture.pending("case-p").isEmpty)
            // Past all of those, and into Saturday's open hours, which a paused clock does not count.
            try await fixture.advance(until: utc("2026-12-12T12:00:00Z"))
            try await fixture.advance(until: utc("2026-12-12T12:00:00Z"))
            #expect(try await fixture.decisions("case-p").count == 2)
            // Resumed Monday 11:45: 5 more minutes make 75 % (11:50); 20 more, 15 before the lunch
            // break and 5 after it, make the breach and level 2 (12:35). Triage's 4 h have long passed:
            // the case is stalled from the resume on (as analytics.journeys shows it: active, past its
            // dwell), not from Friday 15:50, when it waited on the customer.
            try await fixture.advance(until: utc("2026-12-14T11:45:00Z"))
            try await fixture.client.send(.resume, to: "case-p", context: fixture.context(utc("2026-12-14T11:45:00Z")))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            // (The stall, due now, may have fired already.)
            let afterResume = try await fixture.pending("case-p").filter { $0.key != "stall/1" }
            #expect(
                afterResume == [
                    "sla/first-response/75": utc("2026-12-14T11:50:00Z"),
                    "sla/first-response/100": utc("2026-12-14T12:35:00Z"), "escalation/first-response/2": utc("2026-12-14T12:35:00Z"),
                ])
            try await eventually("the stall", observing: { try await fixture.decisions("case-p").map(\.label) }) { $0.count == 3 }
            try await fixture.advance(until: utc("2026-12-14T11:51:00Z"))
            try await eventually("75 %", observing: { try await fixture.decisions("case-p").map(\.label) }) { $0.count == 4 }
            try await fixture.advance(until: utc("2026-12-14T12:36:00Z"))
            try await eventually("the breach and level 2", observing: { try await fixture.decisions("case-p").map(\.label) }) { $0.count == 6 }
        }
        let recorded = try await fixture.timeline("case-p")
        #expect(
            recorded == [
                "sla:first-response:50 @ 2026-12-11T12:50:00Z", "escalation:support-lead:1 @ 2026-12-11T12:50:00Z",
                "stalled:stage @ 2026-12-14T11:45:00Z", "sla:first-response:75 @ 2026-12-14T11:50:00Z",
                "breach:first-response @ 2026-12-14T12:35:00Z", "escalation:support-manager:2 @ 2026-12-14T12:35:00Z",
                "owner:queue:support-managers",
            ])
        // Fired when due, at the resume: neither late nor stale.
        let stall = try await fixture.decisions("case-p").compactMap { event -> DecisionAudit? in
            if case .stalled(let stalled) = event { return stalled.audit }
            return nil
        }
        #expect(stall.map(\.stale) == [false])
        #expect(stall.map(\.since) == [utc("2026-12-11T11:50:00Z")])
        #expect(stall.map(\.decidedAt) == [utc("2026-12-14T11:45:00Z")])
    }

    @Test(
        "a customer moved from strategic to enterprise after level 1: 75 % and the breach move to enterprise's 4 h, level 1 stays fired once, level 2 is gone")
    func tierChangeMidLadder() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let customers = CustomerDirectory(client: fixture.client)
        try await customers.register(customerId: "c-t", name: PersonalData("Tess"), tier: "strategic", context: fixture.on(0))
        try await fixture.client.send(
            .start(.init(customerId: "c-t", journeyType: "support-case", tier: "strategic", owner: "agent-1")), to: "case-t", context: fixture.on(10))
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            // Opened 08:10: 50 % and level 1 (30 m) at 08:40.
            try await fixture.advance(to: 41)
            try await eventually("50 % and level 1", observing: { try await fixture.decisions("case-t").map(\.label) }) { $0.count == 2 }
            // Enterprise from 08:50, with 40 minutes counted: 75 % (3 h) 2 h 20 m later at 11:10; the
            // breach (4 h) 3 h 20 m later: 3 h 10 m to noon, 10 m after the lunch break, 12:40.
            // Enterprise's only level (3 h) has the id of the level that fired. The stall stays 12:10.
            try await customers.changeTier(customerId: "c-t", to: "enterprise", context: fixture.on(50))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            let afterTierChange = try await fixture.pending("case-t")
            #expect(
                afterTierChange == [
                    "sla/first-response/75": fixture.at(190), "sla/first-response/100": fixture.at(280), "stall/1": fixture.at(250),
                ])
            // Past strategic's 75 % (08:55), breach and level 2 (09:10): nothing.
            try await fixture.advance(to: 71)
            try await fixture.advance(to: 71)
            #expect(try await fixture.decisions("case-t").count == 2)
            try await fixture.advance(to: 191)
            try await eventually("75 %", observing: { try await fixture.decisions("case-t").map(\.label) }) { $0.count == 3 }
            try await fixture.advance(to: 281)
            try await eventually("the stall and the breach", observing: { try await fixture.decisions("case-t").map(\.label) }) { $0.count == 5 }
        }
        let recorded = try await fixture.timeline("case-t")
        #expect(
            recorded == [
                "sla:first-response:50 @ 2026-12-07T08:40:00Z", "escalation:support-lead:1 @ 2026-12-07T08:40:00Z",
                "sla:first-response:75 @ 2026-12-07T11:10:00Z", "stalled:stage @ 2026-12-07T12:10:00Z", "breach:first-response @ 2026-12-07T12:40:00Z",
            ])
        #expect(try await fixture.audits("case-t").map(\.tier) == ["strategic", "strategic", "enterprise", "enterprise", "enterprise"])
    }

    @Test("a tier change does not judge earlier feedback again: a CSAT of 3, fine for a standard customer, raises nothing when the customer becomes strategic")
    func tierChangeKeepsFeedbackJudged() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let customers = CustomerDirectory(client: fixture.client)
        try await customers.register(customerId: "c-f", name: PersonalData("Fay"), tier: "standard", context: fixture.on(0))
        try await fixture.startCase("f", tier: "standard")
        // Out of triage at once: the first-response clock stops, so only feedback decides anything.
        try await fixture.client.send(.moveToStage("investigation"), to: "f", context: fixture.on(5))
        // Low is CSAT ≤ 2 for standard, ≤ 3 for strategic (process-manager.yaml).
        try await fixture.client.send(.recordFeedback(.init(kind: .csat, score: 3, channel: "survey")), to: "f", context: fixture.on(30))
        try await fixture.client.send(.recordFeedback(.init(kind: .csat, score: 2, channel: "survey")), to: "f", context: fixture.on(40))
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 50)
            try await eventually("the low score", observing: { try await fixture.decisions("f").map(\.label) }) { $0.count == 1 }
            try await customers.changeTier(customerId: "c-f", to: "strategic", context: fixture.on(60))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 65)
            try await fixture.client.send(.recordFeedback(.init(kind: .csat, score: 3, channel: "survey")), to: "f", context: fixture.on(70))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 71)
            try await eventually("the strategic customer's low score", observing: { try await fixture.decisions("f").map(\.label) }) { $0.count >= 2 }
        }
        let recorded = try await fixture.timeline("f")
        #expect(recorded == ["escalation:service-escalations:1 @ 2026-12-07T08:40:00Z", "escalation:service-escalations:1 @ 2026-12-07T09:10:00Z"])
        #expect(try await fixture.audits("f").map(\.tier) == ["standard", "strategic"])
    }

    @Test(
        "an enterprise customer merged into a strategic one while deadlines are pending: its case follows strategic's 1 h goal; another enterprise case does not"
    )
    func mergeMovesTheSchedule() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let customers = CustomerDirectory(client: fixture.client)
        try await customers.register(customerId: "c-dup", name: PersonalData("Dana"), tier: "enterprise", context: fixture.on(0))
        try await customers.register(customerId: "c-main", name: PersonalData("Dana M."), tier: "strategic", context: fixture.on(0))
        try await customers.register(customerId: "c-other", name: PersonalData("Otto"), tier: "enterprise", context: fixture.on(0))
        for (journey, customer) in [("case-dup", "c-dup"), ("case-other", "c-other")] {
            try await fixture.client.send(
                .start(.init(customerId: customer, journeyType: "support-case", tier: "enterprise", owner: "agent-1")), to: journey, context: fixture.on(10))
        }
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 15)
            // Merged at 08:20 with 10 minutes counted: strategic's 50 % and level 1 (30 m) at 08:40,
            // 75 % at 08:55, the breach and level 2 (1 h) at 09:10; the stall stays 12:10.
            try await customers.merge("c-dup", into: "c-main", context: fixture.on(20))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            let afterMerge = try await fixture.pending("case-dup")
            #expect(
                afterMerge == [
                    "sla/first-response/50": fixture.at(40), "escalation/first-response/1": fixture.at(40), "sla/first-response/75": fixture.at(55),
                    "sla/first-response/100": fixture.at(70), "escalation/first-response/2": fixture.at(70), "stall/1": fixture.at(250),
                ])
            try await fixture.advance(to: 71)
            try await eventually("the merged case's crossings and levels", observing: { try await fixture.decisions("case-dup").map(\.label) }) {
                $0.count == 5
            }
            try await fixture.advance(to: 251)
            try await eventually(
                "both stalls", observing: { try await fixture.decisions("case-dup").map(\.label) + fixture.decisions("case-other").map(\.label) }
            ) {
                $0.filter { $0 == "stalled:stage" }.count == 2
            }
            try await fixture.advance(to: 281)
            try await eventually("the other case's breach", observing: { try await fixture.decisions("case-other").map(\.label) }) { $0.count == 5 }
        }
        let merged = try await fixture.timeline("case-dup")
        #expect(
            merged == [
                "sla:first-response:50 @ 2026-12-07T08:40:00Z", "escalation:support-lead:1 @ 2026-12-07T08:40:00Z",
                "sla:first-response:75 @ 2026-12-07T08:55:00Z", "breach:first-response @ 2026-12-07T09:10:00Z",
                "escalation:support-manager:2 @ 2026-12-07T09:10:00Z", "owner:queue:support-managers", "stalled:stage @ 2026-12-07T12:10:00Z",
            ])
        // Enterprise from 08:10: 50 % (2 h) 10:10, 75 % and level 1 (3 h) 11:10, the breach (4 h) 3 h 50 m
        // to noon and 10 m after the lunch break, 12:40; the stall 12:10.
        let other = try await fixture.timeline("case-other")
        #expect(
            other == [
                "sla:first-response:50 @ 2026-12-07T10:10:00Z", "sla:first-response:75 @ 2026-12-07T11:10:00Z",
                "escalation:support-lead:1 @ 2026-12-07T11:10:00Z", "stalled:stage @ 2026-12-07T12:10:00Z", "breach:first-response @ 2026-12-07T12:40:00Z",
            ])
        #expect(Set(try await fixture.audits("case-dup").map(\.tier)) == ["strategic"])
    }

    @Test(
        "a rework loop opens a new cycle: the stage's stall fires again under a new id, an acknowledged ladder runs again, crossings do not repeat; moving on alone does neither"
    )
    func reworkLoopOpensACycle() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        // Strategic lead-to-live (emea-business): 15 d = 144 h, ladder 8 d = 76.8 h (onboarding-lead,
        // notify), 12 d = 115.2 h (head-of-onboarding, raise-priority), 15 d (customer-success-director,
        // reassign). Both started Monday 7 December 09:00 Berlin (08:00 UTC), 9 h that day, then 10 h a
        // day and 8 h on Fridays: 47 h by Friday 11, 95 h by Friday 18, 125 h by Wednesday 23, 24-26
        // closed, 135 h by Monday 28.
        for journey in ["nb-rework", "nb-forward"] {
            try await fixture.client.send(
                .start(.init(customerId: "c-\(journey)", journeyType: "new-business", tier: "strategic", owner: "rep-1")), to: journey, context: fixture.on(0))
        }
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            // 50 % = 72 h: Wednesday 16 at 13:00 Berlin; level 1 = 76.8 h: 17:48 Berlin.
            try await fixture.advance(until: utc("2026-12-16T16:49:00Z"))
            try await fixture.waitForDecisions(["nb-rework": 2, "nb-forward": 2])
            for journey in ["nb-rework", "nb-forward"] {
                try await fixture.client.send(
                    .acknowledgeEscalation(escalationId: "\(journey)/escalation/lead-to-live/1", by: "lead-lou"), to: journey,
                    context: fixture.context(utc("2026-12-16T17:00:00Z")))
            }
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            // Qualification's 10 d (wall clock) since 7 December 08:00 UTC.
            try await fixture.advance(until: utc("2026-12-17T08:01:00Z"))
            try await fixture.waitForDecisions(["nb-rework": 3, "nb-forward": 3])
            // Both move on to proposal; one goes back to qualification (rework: a new cycle, and a
            // new stall 10 d from 10:00), the other stays (its stall 7 d from 09:00).
            for journey in ["nb-rework", "nb-forward"] {
                try await fixture.client.send(.moveToStage("proposal"), to: journey, context: fixture.context(utc("2026-12-17T09:00:00Z")))
            }
            try await fixture.client.send(.moveToStage("qualification"), to: "nb-rework", context: fixture.context(utc("2026-12-17T10:00:00Z")))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            let afterRework = try await fixture.pending("nb-rework")
            #expect(
                afterRework == [
                    "stall/3": utc("2026-12-27T10:00:00Z"), "sla/lead-to-live/75": utc("2026-12-22T10:00:00Z"),
                    "sla/lead-to-live/100": utc("2026-12-29T16:00:00Z"), "escalation/lead-to-live/2": utc("2026-12-23T07:12:00Z"),
                    "escalation/lead-to-live/3": utc("2026-12-29T16:00:00Z"),
                ])
            // 75 % = 108 h: Tuesday 22 at 11:00 Berlin.
            try await fixture.advance(until: utc("2026-12-22T10:01:00Z"))
            try await fixture.waitForDecisions(["nb-rework": 4, "nb-forward": 4])
            // Level 2 = 115.2 h: Wednesday 23 at 08:12 Berlin; the forward case's stall Thursday 24 09:00 UTC.
            try await fixture.advance(until: utc("2026-12-23T07:13:00Z"))
            try await fixture.waitForDecisions(["nb-rework": 6, "nb-forward": 4])
            try await fixture.advance(until: utc("2026-12-24T09:01:00Z"))
            try await fixture.waitForDecisions(["nb-rework": 6, "nb-forward": 5])
            try await fixture.advance(until: utc("2026-12-27T10:01:00Z"))
            try await fixture.waitForDecisions(["nb-rework": 7, "nb-forward": 5])
            // The breach and level 3 = 144 h: Tuesday 29 at 17:00 Berlin.
            try await fixture.advance(until: utc("2026-12-29T16:01:00Z"))
            try await fixture.waitForDecisions(["nb-rework": 9, "nb-forward": 6])
        }
        let rework = try await fixture.timeline("nb-rework")
        #expect(
            rework == [
                "sla:lead-to-live:50 @ 2026-12-16T12:00:00Z", "escalation:onboarding-lead:1 @ 2026-12-16T16:48:00Z", "stalled:stage @ 2026-12-17T08:00:00Z",
                "sla:lead-to-live:75 @ 2026-12-22T10:00:00Z", "escalation:head-of-onboarding:2 @ 2026-12-23T07:12:00Z", "priority:1",
                "stalled:stage @ 2026-12-27T10:00:00Z", "breach:lead-to-live @ 2026-12-29T16:00:00Z",
                "escalation:customer-success-director:3 @ 2026-12-29T16:00:00Z", "owner:queue:customer-success-directors",
            ])
        let stalls = try await fixture.decisions("nb-rework").compactMap { event -> String? in
            if case .stalled(let stalled) = event { return "\(stalled.audit.deadlineId) \(stalled.stage) since \(stalled.since)" }
            return nil
        }
        #expect(
            stalls == [
                "nb-rework/stall/1 qualification since \(utc("2026-12-07T08:00:00Z"))", "nb-rework/stall/3 qualification since \(utc("2026-12-17T10:00:00Z"))",
            ])
        // Moving on is no rework: the acknowledged ladder stays stopped.
        let forward = try await fixture.timeline("nb-forward")
        #expect(
            forward == [
                "sla:lead-to-live:50 @ 2026-12-16T12:00:00Z", "escalation:onboarding-lead:1 @ 2026-12-16T16:48:00Z", "stalled:stage @ 2026-12-17T08:00:00Z",
                "sla:lead-to-live:75 @ 2026-12-22T10:00:00Z", "stalled:stage @ 2026-12-24T09:00:00Z", "breach:lead-to-live @ 2026-12-29T16:00:00Z",
            ])
    }

    @Test(
        "a case cancelled while its handoff to engineering waits: the OLA is cancelled and nothing fires; an accepted handoff cancels it too; one left waiting stalls"
    )
    func cancelMidHandoff() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let facts = ["reproduction-steps": "attached", "affected-version": "4.2", "customer-impact": "billing blocked"]
        for journey in ["cancelled", "accepted", "left"] {
            try await fixture.startCase(journey)
            try await fixture.client.send(.moveToStage("investigation"), to: journey, context: fixture.on(10))
            try await fixture.client.send(.requestHandoff(toStage: "engineering", facts: facts), to: journey, context: fixture.on(20))
        }
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            // The OLA (4 h, support-extended) from 08:20: 3 h 40 m to noon, 20 m after the lunch break, 12:50.
            #expect(try await fixture.pending("cancelled") == ["handoff/1": fixture.at(290), "stall/2": utc("2026-12-09T08:10:00Z")])
            try await fixture.advance(to: 100)
            try await fixture.client.send(.cancel(reason: "customer withdrew"), to: "cancelled", context: fixture.on(120))
            try await fixture.client.send(.acceptHandoff(by: "eng-eve"), to: "accepted", context: fixture.on(180))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            #expect(try await fixture.pending("cancelled").isEmpty)
            #expect(try await fixture.pending("accepted") == ["stall/3": utc("2026-12-12T11:00:00Z")])
            try await fixture.advance(to: 291)
            try await eventually("the waiting handoff's stall", observing: { try await fixture.decisions("left").map(\.label) }) { $0.count == 1 }
            // Investigation's 2 d since 08:10 for the case left waiting; nothing ever for the cancelled one.
            try await fixture.advance(until: utc("2026-12-09T08:11:00Z"))
            try await eventually("the stage's stall", observing: { try await fixture.decisions("left").map(\.label) }) { $0.count == 2 }
        }
        #expect(try await fixture.timeline("left") == ["stalled:handoff @ 2026-12-07T12:50:00Z", "stalled:stage @ 2026-12-09T08:10:00Z"])
        #expect(try await fixture.decisions("cancelled").isEmpty)
        #expect(try await fixture.decisions("accepted").isEmpty)
        // Only the handoff's and the later stages' deadlines: the triage stage's stall exists (and
        // was cancelled) only when the scheduler's catch-up ended a batch inside the journey, which
        // any transaction open in the cluster can cause by holding back the readers' horizon.
        let handoffOn = { (states: [String: [String]]) in states.filter { $0.key != "stall/1" } }
        #expect(handoffOn(try await fixture.states("cancelled")) == ["handoff/1": ["cancelled"], "stall/2": ["cancelled"]])
        #expect(handoffOn(try await fixture.states("accepted")) == ["handoff/1": ["cancelled"], "stall/2": ["cancelled"], "stall/3": ["pending"]])
        let handoff = try await fixture.decisions("left").compactMap { event -> String? in
            if case .stalled(let stalled) = event, stalled.boundary == .handoff {
                return "\(stalled.audit.deadlineId) to \(stalled.toDepartment ?? "?") since \(stalled.since)"
            }
            return nil
        }
        #expect(handoff == ["left/handoff/1 to engineering since \(fixture.at(20))"])
    }
}

extension Fixture {
    func context(_ at: Date) -> CommandContext { CommandContext(commandId: UUID(), actor: "test", sourceSystem: "desk", occurredAt: at) }

    /// `advance(to:)` to an instant.
    func advance(until date: Date) async throws { try await advance(to: date.timeIntervalSince(origin) / 60) }

    /// The journey's pending deadlines: id (after the journey's) → due time.
    func pending(_ journeyId: String) async throws -> [String: Date] {
        let rows = try await store.pool.query("SELECT deadline_id, due_at FROM pm_deadlines WHERE journey_id = \(journeyId) AND state = 'pending'")
        var out: [String: Date] = [:]
        for row in rows {
            let (id, due) = try row.decode(String.self, Date.self)
            out[String(id.dropFirst(journeyId.count + 1))] = due
        }
        return out
    }

    /// Every version's state of the journey's deadlines, by id (after the journey's), oldest first.
    func states(_ journeyId: String) async throws -> [String: [String]] {
        let rows = try await store.pool.query(
            "SELECT deadline_id, state FROM pm_deadlines WHERE journey_id = \(journeyId) ORDER BY deadline_id, version")
        var out: [String: [String]] = [:]
        for row in rows {
            let (id, state) = try row.decode(String.self, String.self)
            out[String(id.dropFirst(journeyId.count + 1)), default: []].append(state)
        }
        return out
    }

    /// The decisions in the order recorded (owner reassignments included), each with its due time
    /// when it has an audit.
    func timeline(_ journeyId: String) async throws -> [String] {
        let formatter = ISO8601DateFormatter()
        return try await events(journeyId).filter { $0.audit != nil || $0.label.hasPrefix("owner:") || $0.label.hasPrefix("priority:") }.map { event in
            guard let due = event.audit?.dueAt else { return event.label }
            return "\(event.label) @ \(formatter.string(from: due))"
        }
    }

    func audits(_ journeyId: String) async throws -> [DecisionAudit] { try await decisions(journeyId).compactMap(\.audit) }

    /// Waits until each journey has recorded `count` decisions.
    func waitForDecisions(_ counts: [String: Int]) async throws {
        try await eventually(
            "decisions \(counts)",
            observing: { () async throws -> [String: Int] in
                var seen: [String: Int] = [:]
                for journeyId in counts.keys { seen[journeyId] = try await decisions(journeyId).count }
                return seen
            }
        ) { $0 == counts }
    }
}

extension JourneyEvent {
    /// The audit of a decision the process manager recorded.
    var audit: DecisionAudit? {
        switch self {
        case .stalled(let stalled): return stalled.audit
        case .slaThresholdCrossed(let crossed), .slaBreached(let crossed): return crossed.audit
        case .escalationRaised(let raised): return raised.audit
        default: return nil
        }
    }
}
