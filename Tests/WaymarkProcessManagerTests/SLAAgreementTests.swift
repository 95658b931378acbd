import Foundation
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkSimulation
import WaymarkTesting

@Suite("Process manager and SLA view agree", .scaledTimeLimit(minutes: 10))
struct SLAAgreementTests {
    /// Each fired crossing by journey, goal and share, at the instant it records.
    static func fired(_ store: EventStore) async throws -> [String: Date] {
        var crossings: [String: Date] = [:]
        var position = GlobalPosition.start
        while true {
            let slice = try await store.readCategory(JourneyDecider.category, after: position, limit: 5_000)
            for recorded in slice.events where recorded.type == "SlaThresholdCrossed" || recorded.type == "SlaBreached" {
                guard
                    case .some(.slaThresholdCrossed(let crossed)) = try? JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: .standard)
                        ?? nil
                else {
                    if case .some(.slaBreached(let crossed)) = try JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: .standard) {
                        let key = "\(recorded.streamName.dropFirst(8))/\(crossed.goal)/100"
                        #expect(crossings[key] == nil, "\(key) fired twice")
                        crossings[key] = crossed.audit.dueAt
                    }
                    continue
                }
                let key = "\(recorded.streamName.dropFirst(8))/\(crossed.goal)/\(crossed.percent)"
                #expect(crossings[key] == nil, "\(key) fired twice")
                crossings[key] = crossed.audit.dueAt
            }
            position = slice.nextPosition
            if slice.isEnd { return crossings }
        }
    }

    @Test(
        "on a simulated run of 2,000 journeys (waits, tier changes, merges, cancels), every SLA crossing fires at the view's reached_50_at, reached_75_at and breach_at"
    )
    func crossingsAgreeWithTheView() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let until = Date(timeIntervalSince1970: 1_780_000_000)
        let analytics = fixture.store.schema + "_analytics"
        let runner = try ProjectionRunner(
            store: fixture.store, projections: [SLAProjection(definitions: fixture.client.definitions)], analyticsSchema: analytics,
            standbyInterval: .milliseconds(100), logger: TestDatabase.quietLogger)
        let simulator = Simulator(client: fixture.client, logger: TestDatabase.quietLogger)
        _ = try await simulator.run(SimulationOptions(journeys: 2_000, seed: 11, until: until, days: 30, senders: 2))
        // Everything due by the end of the simulated period fires: the process manager's now is `until`.
        let manager = try ProcessManager(
            store: fixture.store, definitions: fixture.client.definitions, settings: fixture.settings, time: WallTime(fixture.clock, origin: until),
            logger: TestDatabase.quietLogger)
        try await withServices([runner, manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.scaled(.seconds(120))))
            try await eventually("every deadline due by the end of the period to fire", timeout: .seconds(120)) {
                try await fixture.store.query("SELECT count(*) FROM pm_deadlines WHERE state = 'pending' AND due_at <= \(until)")[0].decode(
                    Int64.self, at: 0) == 0
            }
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.scaled(.seconds(120))))
            #expect(try await runner.waitUntilCaughtUp("sla", timeout: TestTime.scaled(.seconds(120))))
        }
        let fired = try await Self.fired(fixture.store)
        var viewed: [String: Date] = [:]
        let rows = try await fixture.store.query(
            """
            SELECT journey_id, goal, reached_50_at, reached_75_at, reached_100_at FROM \(identifier: analytics).sla
            """)
        for row in rows {
            let (journey, goal, half, threeQuarters, full) = try row.decode(String.self, String.self, Date?.self, Date?.self, Date?.self)
            for (percent, reached) in [(50, half), (75, threeQuarters), (100, full)] {
                if let reached, reached <= until { viewed["\(journey)/\(goal)/\(percent)"] = reached }
            }
        }
        #expect(fired.count > 250, "a run of this size crosses hundreds of thresholds")
        #expect(fired.keys.filter { $0.hasSuffix("/100") }.count > 50)
        let missing = viewed.keys.filter { fired[$0] == nil }.sorted()
        let extra = fired.keys.filter { viewed[$0] == nil }.sorted()
        let different = viewed.keys.filter { fired[$0] != nil && fired[$0] != viewed[$0] }.sorted()
        if let first = (different + missing + extra).first {
            // What the log says of the first disagreement: the journey's events and its customers'.
            let journeyId = String(first.split(separator: "/")[0])
            var lines: [String] = []
            var customers: [String] = []
            for recorded in try await fixture.store.readStream(JourneyDecider.streamName(journeyId), limit: 1_000).events {
                lines.append("\(recorded.position) \(recorded.occurredAt.timeIntervalSince1970) \(recorded.type) \(recorded.data.prefix(160))")
                if recorded.type == "JourneyStarted", let started = try? JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: .standard),
                    case .started(let payload) = started
                {
                    customers.append(payload.customerId)
                }
            }
            for customer in customers {
                for recorded in try await fixture.store.readStream(CustomerDecider.streamName(customer), limit: 1_000).events {
                    lines.append(
                        "\(recorded.position) \(recorded.occurredAt.timeIntervalSince1970) \(recorded.streamName) \(recorded.type) \(recorded.data.prefix(120))"
                    )
                }
            }
            Issue.record("log of \(journeyId):\n\(lines.joined(separator: "\n"))")
        }
        #expect(missing.isEmpty, "reached in the view, never fired: \(missing.prefix(5))")
        #expect(extra.isEmpty, "fired, not reached in the view: \(extra.prefix(5))")
        #expect(
            different.isEmpty,
            "fired at another instant: \(different.prefix(5).map { "\($0): fired \(fired[$0]!.timeIntervalSince1970), view \(viewed[$0]!.timeIntervalSince1970)" })"
        )
    }
}
