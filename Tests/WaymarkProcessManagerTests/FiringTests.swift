import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkTesting

@Suite("Process manager: deadlines fire when due, once", .scaledTimeLimit(minutes: 5))
struct FiringTests {
    @Test("a strategic support case left in triage: 50 and 75 %, the breach, both ladder levels (reassigned), then the stall, each at its due time")
    func strategicCaseLeftInTriage() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.startCase("case-1")
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 30)
            try await eventually("50 % and the first level", observing: { try await fixture.decisions("case-1").map(\.label) }) { $0.count == 2 }
            try await fixture.advance(to: 61)
            try await eventually("75 %, the breach and the second level", observing: { try await fixture.decisions("case-1").map(\.label) }) {
                $0.count == 5
            }
            try await fixture.advance(to: 241)
            try await eventually("the stall", observing: { try await fixture.decisions("case-1").map(\.label) }) { $0.count == 6 }
        }
        let events = try await fixture.events("case-1")
        #expect(
            events.map(\.label) == [
                "JourneyStarted", "sla:first-response:50", "escalation:support-lead:1", "sla:first-response:75", "breach:first-response",
                "escalation:support-manager:2", "owner:queue:support-managers", "stalled:stage",
            ])
        var dues: [String: Date] = [:]
        for event in events {
            switch event {
            case .slaThresholdCrossed(let crossed): dues["\(crossed.percent)"] = crossed.audit.dueAt
            case .slaBreached(let crossed):
                dues["100"] = crossed.audit.dueAt
                #expect(crossed.reachedAt == fixture.at(60))
                #expect(crossed.department == "service")
            case .escalationRaised(let raised): dues["level \(raised.level)"] = raised.audit.dueAt
            case .stalled(let stalled):
                dues["stall"] = stalled.audit.dueAt
                #expect(stalled.since == fixture.at(0))
                #expect(stalled.audit.instance == "pm-1")
                #expect(stalled.audit.latenessSeconds == 60)
                #expect(!stalled.audit.stale)
            default: break
            }
        }
        #expect(
            dues == [
                "50": fixture.at(30), "75": fixture.at(45), "100": fixture.at(60), "level 1": fixture.at(30), "level 2": fixture.at(60),
                "stall": fixture.at(240),
            ])
    }

    @Test("progress before a due time cancels it: a case moved on at 20 minutes neither crosses nor stalls in triage; a case left there does")
    func progressCancels() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.startCase("moved", tier: "enterprise")
        try await fixture.startCase("left", tier: "enterprise")
        try await fixture.client.send(.moveToStage("investigation"), to: "moved", context: fixture.on(20))
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 5 * 60)
            try await eventually("the case left in triage to stall", observing: { try await fixture.decisions("left").map(\.label) }) {
                $0.contains("stalled:stage")
            }
        }
        // Enterprise: 4 h target, 3 h level; triage's 4 h dwell. The moved case stopped its clock at 20 minutes.
        #expect(
            try await fixture.decisions("left").map(\.label) == [
                "sla:first-response:50", "sla:first-response:75", "escalation:support-lead:1", "breach:first-response",
                "stalled:stage",
            ])
        #expect(try await fixture.decisions("moved").isEmpty)
    }

    @Test("an acknowledged escalation stops its ladder: no second level, while the breach is still recorded")
    func acknowledgementStopsTheLadder() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.startCase("case-1")
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 31)
            try await eventually("the first level", observing: { try await fixture.decisions("case-1").map(\.label) }) {
                $0.contains("escalation:support-lead:1")
            }
            let escalationId = try await fixture.decisions("case-1").compactMap { event -> String? in
                if case .escalationRaised(let raised) = event { return raised.escalationId }
                return nil
            }[0]
            try await fixture.client.send(
                .acknowledgeEscalation(escalationId: escalationId, by: "lead-ann", note: "calling them"), to: "case-1", context: fixture.on(31))
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 61)
            try await eventually("the breach", observing: { try await fixture.decisions("case-1").map(\.label) }) { $0.contains("breach:first-response") }
        }
        #expect(!(try await fixture.events("case-1").map(\.label).contains { $0.hasPrefix("escalation:support-manager") || $0.hasPrefix("owner:") }))
        // A second acknowledgement, and one of an escalation never raised, are refused.
        await #expect(throws: Rejection.self) {
            try await fixture.client.send(.acknowledgeEscalation(escalationId: "case-1/escalation/first-response/1", by: "x"), to: "case-1")
        }
        do {
            try await fixture.client.send(.acknowledgeEscalation(escalationId: "nope", by: "x"), to: "case-1")
            Issue.record("an unknown escalation was acknowledged")
        } catch let rejection as Rejection {
            #expect(rejection.code == .unknownEscalation)
        }
    }
}
