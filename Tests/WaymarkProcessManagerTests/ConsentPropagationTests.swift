import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkTesting

/// Consent propagation deadlines, against config/consent.yaml: `propagation` gives every system
/// 4 h and billing 1 d; marketing goes to marketing-automation and crm, service updates to the
/// support desk and billing.
@Suite("Process manager: consent decisions downstream systems have not applied in time", .scaledTimeLimit(minutes: 5))
struct ConsentPropagationTests {
    static let marketingEmail = ConsentScope(purpose: "marketing", channel: "email")
    static let marketingSMS = ConsentScope(purpose: "marketing", channel: "sms")
    static let serviceEmail = ConsentScope(purpose: "service-updates", channel: "email")

    @Test(
        "a decision crm applied and marketing-automation did not: one overdue event, for marketing-automation, at 4 h; the consent view shows it overdue"
    )
    func oneOfTwoSystemsLate() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let decision = try await fixture.give(Self.marketingEmail, subject: "s-1", at: 0)
        try await fixture.report(Self.marketingEmail, decision, system: "crm", subject: "s-1", at: 30)
        let analytics = fixture.store.schema + "_analytics"
        let runner = try ProjectionRunner(
            store: fixture.store, projections: [ConsentProjection(catalog: fixture.catalog), EscalationsProjection()], analyticsSchema: analytics,
            standbyInterval: .milliseconds(100), logger: TestDatabase.quietLogger)
        let manager = try fixture.processManager()
        try await withServices([runner, manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            #expect(try await runner.waitUntilCaughtUp("escalations", timeout: TestTime.deadline))
            // The operators' view names the subject and the system that owes the decision.
            let pending = try await fixture.store.query(
                "SELECT coalesce(journey_id, '-'), kind, subject_id, system FROM \(identifier: analytics).deadlines ORDER BY system")
            #expect(
                try pending.map { try $0.decode(String.self, String.self, String.self, String.self) }.map { [$0.0, $0.1, $0.2, $0.3] } == [
                    ["-", "consent_propagation", "s-1", "marketing-automation"]
                ])
            try await fixture.advance(to: 239)
            // Idle again at 239 minutes: that round found nothing due.
            try await fixture.advance(to: 239)
            #expect(try await fixture.overdue("s-1").isEmpty)
            try await fixture.advance(to: 240)
            try await eventually("marketing-automation overdue", observing: { try await fixture.overdue("s-1").count }) { $0 == 1 }
            // Long past: nothing more fires.
            try await fixture.advance(to: 3 * 24 * 60)
            try await fixture.advance(to: 3 * 24 * 60)
            #expect(try await runner.waitUntilCaughtUp("consent", timeout: TestTime.deadline))
        }
        let overdue = try await fixture.overdue("s-1")
        #expect(overdue.count == 1)
        let event = try #require(overdue.first)
        #expect(event.system == "marketing-automation" && event.scope == Self.marketingEmail && event.decision == decision)
        #expect(event.dueAt == fixture.at(240))
        #expect(event.audit.rule == .consentPropagation && event.audit.since == fixture.at(0) && event.audit.dueWithinSeconds == 4 * 3_600)
        #expect(event.audit.decidedAt == fixture.at(240) && event.audit.latenessSeconds == 0 && !event.audit.stale && event.audit.instance == "pm-1")
        let recorded = try await fixture.store.readStream(ConsentDecider.streamName("s-1"), limit: 100).events.last!
        #expect(recorded.id == Deadline.eventId(deadlineId: event.audit.deadlineId, 0))

        let rows = try await fixture.store.query(
            """
            SELECT system, state, overdue, overdue_since FROM \(identifier: analytics).consent_propagation WHERE subject_id = 's-1' ORDER BY system
            """)
        let view = try rows.map { try $0.decode(String.self, String.self, Bool.self, Date?.self) }
        #expect(view.count == 2)
        #expect(view.first.map { [$0.0, $0.1, "\($0.2)"] } == ["crm", "applied", "false"] && view.first?.3 == nil)
        #expect(view.last.map { [$0.0, $0.1, "\($0.2)"] } == ["marketing-automation", "pending", "true"] && view.last?.3 == fixture.at(240))
    }

    @Test("a failed report does not cancel; billing's own 1 d is honoured beside the support desk's 4 h; status counts the kind")
    func failedReportAndOverride() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let decision = try await fixture.give(Self.serviceEmail, subject: "s-2", at: 0)
        try await fixture.report(Self.serviceEmail, decision, system: "support-desk", subject: "s-2", at: 10, error: "record locked")
        try await fixture.report(Self.serviceEmail, decision, system: "billing", subject: "s-2", at: 20, error: "timeout")
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            let status = try await ProcessManagerStatus.read(fixture.store, now: fixture.at(0), logger: TestDatabase.quietLogger)
            #expect(status.kinds.map { [$0.kind, "\($0.pending)"] } == [[ConsentDeadline.kind, "2"]])
            try await fixture.advance(to: 240)
            try await eventually("the support desk overdue", observing: { try await fixture.overdue("s-2").map(\.system) }) { $0 == ["support-desk"] }
            try await fixture.advance(to: 24 * 60 - 1)
            try await fixture.advance(to: 24 * 60 - 1)
            #expect(try await fixture.overdue("s-2").count == 1)
            try await fixture.advance(to: 24 * 60)
            try await eventually("billing overdue", observing: { try await fixture.overdue("s-2").map(\.system) }) { $0 == ["support-desk", "billing"] }
        }
        #expect(try await fixture.overdue("s-2").map(\.dueAt) == [fixture.at(240), fixture.at(24 * 60)])
        let status = try await ProcessManagerStatus.read(fixture.store, now: fixture.at(24 * 60), logger: TestDatabase.quietLogger)
        #expect(status.pending == 0 && status.lastFired == fixture.at(24 * 60))
    }

    @Test("a report before the due time cancels; a newer decision on the question supersedes the older one's deadlines and gets its own")
    func reportCancelsNewerSupersedes() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let manager = try fixture.processManager()
        var refused = UUID()
        try await withServices([manager]) {
            let email = try await fixture.give(Self.marketingEmail, subject: "s-3", at: 0)
            let given = try await fixture.give(Self.marketingSMS, subject: "s-3", at: 0)
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            #expect(try await fixture.deadlineStates("s-3").values.map { $0 } == [["pending"], ["pending"], ["pending"], ["pending"]])
            try await fixture.advance(to: 60)
            for system in ["crm", "marketing-automation"] {
                try await fixture.report(Self.marketingEmail, email, system: system, subject: "s-3", at: 60)
            }
            try await fixture.advance(to: 120)
            refused = try await fixture.consents.record(.refuse(fixture.record(Self.marketingSMS)), subject: "s-3", context: fixture.on(120)).decisionId!
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            let states = try await fixture.deadlineStates("s-3")
            func of(_ decision: UUID) -> [[String]] { states.filter { $0.key.contains(decision.uuidString.lowercased()) }.values.map { $0 } }
            #expect(of(email) == [["cancelled"], ["cancelled"]], "applied in time")
            #expect(of(given) == [["cancelled"], ["cancelled"]], "superseded")
            #expect(of(refused) == [["pending"], ["pending"]])
            try await fixture.advance(to: 300)
            try await fixture.advance(to: 300)
            #expect(try await fixture.overdue("s-3").isEmpty)
            try await fixture.advance(to: 360)
            try await eventually("both systems late on the refusal", observing: { try await fixture.overdue("s-3").count }) { $0 == 2 }
        }
        let overdue = try await fixture.overdue("s-3")
        #expect(Set(overdue.map(\.system)) == ["crm", "marketing-automation"])
        #expect(overdue.allSatisfy { $0.decision == refused && $0.scope == Self.marketingSMS && $0.dueAt == fixture.at(360) })
    }

    @Test("after downtime an overdue decision fires at once with its lateness; one overdue past the stale horizon (24 h) is recorded stale")
    func lateAndStale() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        // Marketing given 5 h before the origin (due 1 h before it); service updates 2 d before (the
        // support desk due 44 h before it, billing 24 h before it: both past the horizon).
        let late = try await fixture.give(Self.marketingEmail, subject: "s-5", at: -5 * 60)
        let stale = try await fixture.give(Self.serviceEmail, subject: "s-5", at: -2 * 24 * 60 - 1)
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await eventually("four overdue at once", observing: { try await fixture.overdue("s-5").count }) { $0 == 4 }
        }
        let overdue = try await fixture.overdue("s-5")
        for event in overdue where event.decision == late {
            #expect(event.audit.latenessSeconds == 3_600 && !event.audit.stale && event.audit.decidedAt == fixture.at(0), "\(event.system)")
        }
        for event in overdue where event.decision == stale {
            #expect(event.audit.stale && event.audit.decidedAt == fixture.at(0), "\(event.system)")
        }
        let staleLateness: [Double] = overdue.filter { $0.decision == stale }.map(\.audit.latenessSeconds).sorted()
        #expect(staleLateness == [86_460, 158_460], "24 h 1 m and 44 h 1 m")
    }

    @Test("a system that applied a decision after its due time, while no process manager ran, still gets its overdue; one in time does not")
    func appliedLateStillOverdue() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        // Given 6 h before the origin: both systems due 2 h before it. crm applied 1 h after the
        // decision (in time), marketing-automation 5 h after (an hour late), before any manager ran.
        let decision = try await fixture.give(Self.marketingEmail, subject: "s-7", at: -6 * 60)
        try await fixture.report(Self.marketingEmail, decision, system: "crm", subject: "s-7", at: -5 * 60)
        try await fixture.report(Self.marketingEmail, decision, system: "marketing-automation", subject: "s-7", at: -60)
        let manager = try fixture.processManager()
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            try await eventually("marketing-automation's overdue", observing: { try await fixture.overdue("s-7").map(\.system) }) {
                $0 == ["marketing-automation"]
            }
            try await fixture.advance(to: 24 * 60)
            try await fixture.advance(to: 24 * 60)
        }
        let overdue = try await fixture.overdue("s-7")
        #expect(overdue.map(\.system) == ["marketing-automation"])
        #expect(overdue.first?.dueAt == fixture.at(-2 * 60) && overdue.first?.audit.latenessSeconds == 2 * 3_600)
    }

    @Test("a deadline table rebuilt from the log fires nothing twice: the support desk's overdue stays one, billing's still fires")
    func rebuildFiresNothingTwice() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        _ = try await fixture.give(Self.serviceEmail, subject: "s-4", at: 0)
        let first = try fixture.processManager(instance: "pm-1")
        let second = try fixture.processManager(instance: "pm-2")
        try await withServices([first]) {
            #expect(try await first.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 241)
            try await eventually("the support desk overdue", observing: { try await fixture.overdue("s-4").count }) { $0 == 1 }
        }
        try await ProcessManagerRebuild.rebuild(fixture.store, logger: TestDatabase.quietLogger)
        #expect(try await fixture.store.pool.query("SELECT 1 FROM pm_consent_watches").isEmpty)
        try await withServices([second]) {
            #expect(try await second.waitUntilScheduled(timeout: TestTime.deadline))
            // Only billing's deadline is pending again. (The support desk's may have been scheduled
            // and cancelled on the way, when a long transaction elsewhere held the overdue event
            // back from the scheduler's first batch.)
            let derived = try await fixture.deadlineStates("s-4")
            #expect(derived.filter { $0.value.last == "pending" }.keys.map { String($0.split(separator: "/").last!) } == ["billing"], "\(derived)")
            try await fixture.advance(to: 242)
            try await fixture.advance(to: 242)
            #expect(try await fixture.overdue("s-4").count == 1)
            try await fixture.advance(to: 24 * 60)
            try await eventually("billing overdue", observing: { try await fixture.overdue("s-4").count }) { $0 == 2 }
        }
        let overdue = try await fixture.overdue("s-4")
        #expect(overdue.map(\.system) == ["support-desk", "billing"])
        #expect(overdue.map(\.audit.instance) == ["pm-1", "pm-2"])
    }
}

extension Fixture {
    var consents: ConsentRegistry { ConsentRegistry(client: client) }

    func record(_ scope: ConsentScope) -> ConsentRecord {
        ConsentRecord(scope: scope, legalBasis: .consent, noticeVersion: "privacy-2026.1", collectionPoint: "signup-form", proofReference: "form-1")
    }

    /// Records consent given on `scope` at `minutes`; returns the decision's id.
    func give(_ scope: ConsentScope, subject: String, at minutes: Double) async throws -> UUID {
        try await consents.record(.give(record(scope)), subject: subject, context: on(minutes)).decisionId!
    }

    /// `system` reports applying `decision` (or failing to, with `error`) at `minutes`.
    func report(_ scope: ConsentScope, _ decision: UUID, system: String, subject: String, at minutes: Double, error: String? = nil) async throws {
        let report = ConsentPropagation(scope: scope, system: system, decision: decision, acknowledgement: error == nil ? "ACK-1" : nil, error: error)
        try await consents.record(.recordPropagation(report), subject: subject, context: on(minutes))
    }

    /// The subject's `ConsentPropagationOverdue` events, in the log's order.
    func overdue(_ subject: String) async throws -> [ConsentPropagationOverdue] {
        try await store.readStream(ConsentDecider.streamName(subject), limit: 1_000).events.compactMap { recorded in
            if case .propagationOverdue(let overdue) = try ConsentEvent.decode(type: recorded.type, data: recorded.data, codec: .standard) {
                return overdue
            }
            return nil
        }
    }

    /// Every version's state of the subject's deadlines, by id, oldest first.
    func deadlineStates(_ subject: String) async throws -> [String: [String]] {
        let rows = try await store.pool.query(
            "SELECT deadline_id, state FROM pm_deadlines WHERE subject_id = \(subject) AND kind = \(ConsentDeadline.kind) ORDER BY deadline_id, version")
        var out: [String: [String]] = [:]
        for row in rows {
            let (id, state) = try row.decode(String.self, String.self)
            out[id, default: []].append(state)
        }
        return out
    }
}
