import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

/// Rules of the journeys projection, each stated by a test that fails when the rule is broken.
@Suite("Journeys projection rules")
struct JourneyRuleTests {
    @Test("a journey completed or cancelled during a stage visit ends that visit: its left_at is the journey's ended_at")
    func closingEndsVisit() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        for id in ["done", "gone"] {
            try await client.send(
                .start(.init(journeyId: id, customerId: "c", journeyType: "new-business", tier: "standard")), to: id, context: at(0))
            try await client.send(.moveToStage("proposal"), to: id, context: at(2))
        }
        try await client.send(.complete, to: "done", context: at(5))
        try await client.send(.cancel(reason: "lost to a competitor"), to: "gone", context: at(7))
        try await fixture.runUntilCaughtUp()
        let visits = try await fixture.store.query(
            """
            SELECT v.journey_id, v.stage, v.left_for, (v.left_at = j.ended_at)::text, (v.left_at IS NULL)::text
            FROM \(identifier: fixture.analytics).time_in_status v JOIN \(identifier: fixture.analytics).journeys j USING (journey_id)
            WHERE v.stage = 'proposal' ORDER BY 1
            """
        ).map { row in try (0..<5).map { try row.decode(String?.self, at: $0) } }
        #expect(visits == [["done", "proposal", "completed", "true", "false"], ["gone", "proposal", "cancelled", "true", "false"]])
    }

    @Test("handoffs_rejected counts every rejection: two rejections and one acceptance give 2")
    func everyRejectionCounts() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        let id = "j-r"
        try await client.send(.start(.init(journeyId: id, customerId: "c", journeyType: "new-business", tier: "standard")), to: id, context: at(0))
        try await client.send(.moveToStage("proposal"), to: id, context: at(1))
        try await client.send(.moveToStage("contract"), to: id, context: at(2))
        let facts = ["signed-contract": "s", "billing-contact": "b", "kickoff-date": "k", "success-plan-owner": "g"]
        for (hour, decision) in [(3.0, "reject"), (5.0, "reject"), (7.0, "accept")] {
            try await client.send(.requestHandoff(toStage: "kickoff", facts: facts), to: id, context: at(hour))
            let command: JourneyCommand = decision == "reject" ? .rejectHandoff(by: "grace", reason: "not ready") : .acceptHandoff(by: "grace")
            try await client.send(command, to: id, context: at(hour + 1))
        }
        try await fixture.runUntilCaughtUp()
        #expect(try await fixture.view("journeys", "handoffs::text, handoffs_rejected::text", order: "journey_id") == [["3", "2"]])
    }
}
