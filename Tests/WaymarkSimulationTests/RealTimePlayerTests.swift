import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkSimulation
import WaymarkTesting

@Suite("Simulator in real time")
struct RealTimePlayerTests {
    @Test("the demo type's journeys last minutes: waits, surveys and cancellations in proportion, the shipped types' days unchanged")
    func minutesLongScripts() throws {
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let express = Simulator.journeyScripts(
            SimulationOptions(journeys: 400, seed: 3, until: until, days: 1, journeyTypes: ["express-repair"]), catalog: catalog)
        #expect(Set(express.map(\.journeyType)) == ["express-repair"])
        var spans: [TimeInterval] = []
        var longestStep: TimeInterval = 0
        for script in express where script.commands.count > 1 {
            let steps = zip(script.commands, script.commands.dropFirst()).map { $1.occurredAt.timeIntervalSince($0.occurredAt) }
            longestStep = max(longestStep, steps.max()!)
            if let completed = script.commands.firstIndex(where: { if case .complete = $0.command { true } else { false } }) {
                spans.append(script.commands[completed].occurredAt.timeIntervalSince(script.commands[0].occurredAt))
            }
        }
        // No step of a minutes-long journey waits the hours a day-long type's would.
        #expect(longestStep < 2 * 3_600, "a step of \(longestStep) s")
        #expect(!spans.isEmpty && spans.max()! < 3_600, "completed within the hour: \(spans.max() ?? 0) s at most")
        // Stages past their max dwell or their SLA happen: the demo's stalls and breaches.
        #expect(spans.filter { $0 > 4 * 60 }.count > spans.count / 20, "some journeys take longer than their 4-minute SLA")
        let fates = Dictionary(grouping: express, by: \.fate).mapValues(\.count)
        #expect(fates[.stalled, default: 0] > 0 && fates[.cancelled, default: 0] > 0, "\(fates)")
        // A day-long type keeps its calendar days: its waits on the customer last an hour or more.
        let orders = Simulator.journeyScripts(SimulationOptions(journeys: 200, seed: 3, until: until, journeyTypes: ["order-to-cash"]), catalog: catalog)
        let completions = orders.compactMap { script -> TimeInterval? in
            guard let end = script.commands.last(where: { if case .complete = $0.command { true } else { false } }) else { return nil }
            return end.occurredAt.timeIntervalSince(script.commands[0].occurredAt)
        }
        #expect(!completions.isEmpty && completions.min()! > 86_400, "an order to cash takes days: \(completions.min() ?? 0) s")
    }

    @Test("playing in real time sends each command when the wall clock reaches its time, round after round, until cancelled")
    func playsAsItHappens() async throws {
        let simulator = try await freshSimulator()
        defer { Task { await simulator.client.store.close() } }
        let started = Date()
        let player = Task {
            try await simulator.play(RealTimeOptions(journeyTypes: ["express-repair"], journeysPerRound: 3, interval: .seconds(1), seed: 9))
        }
        let store = simulator.client.store
        func count(_ type: String) async throws -> Int {
            try await store.query("SELECT count(*) FROM events WHERE event_type = \(type)").first!.decode(Int.self, at: 0)
        }
        // Journeys of several rounds start, and their first milestones come seconds later.
        let played = try await eventually("journeys of two rounds started and their first milestones reached", timeout: .seconds(90)) {
            let (started, milestones) = (try await count("JourneyStarted"), try await count("MilestoneReached"))
            return started >= 6 && milestones >= 3
        }
        // Cancelled, the player returns once every journey it was playing has stopped.
        player.cancel()
        _ = try? await player.value
        #expect(played)
        let progress = simulator.progress
        #expect(progress.rejected == 0, "\(progress)")
        // Nothing was written ahead of its time: each event was recorded once its time came, and
        // soon after (not hours of a script sent up front; a loaded machine may send a little late).
        let rows = try await store.query(
            """
            SELECT extract(epoch FROM recorded_at - (metadata->>'occurred_at')::timestamptz)::float8, event_type
            FROM events WHERE metadata ? 'occurred_at' AND stream_name LIKE 'journey-%'
            """)
        let lags = try rows.map { try $0.decode(Double.self, at: 0) }
        #expect(!lags.isEmpty)
        #expect(lags.min()! > -0.5, "an event recorded \(-lags.min()!) s before its time")
        #expect(lags.max()! < 20 * TestTime.scale, "an event recorded \(lags.max()!) s after its time")
        let firstStart = try await store.query(
            "SELECT min((metadata->>'occurred_at')::timestamptz) FROM events WHERE event_type = 'JourneyStarted'"
        ).first!.decode(Date.self, at: 0)
        #expect(firstStart >= started.addingTimeInterval(-1))
    }
}
