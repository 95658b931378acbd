import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkProjections
import WaymarkTesting

@Suite("Handoffs when their journey ends")
struct HandoffCancelTests {
    /// In batches of one event the pending handoff is read back from the stored rows at the cancel.
    @Test("a handoff pending when its journey is cancelled ends then: outcome cancelled, the cancel's time and reason, a fixed wait", arguments: [200, 1])
    func cancelledWhilePending(batchSize: Int) async throws {
        let fixture = try await Fixture(batchSize: batchSize)
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        try await client.send(
            .start(.init(journeyId: "o-1", customerId: "c-1", journeyType: "order-to-cash", tier: "enterprise", owner: "ana")), to: "o-1",
            context: at(0))
        try await client.send(.requestHandoff(toStage: "credit-check", facts: ["order-total": "1200 EUR"]), to: "o-1", context: at(1))
        try await client.send(.cancel(reason: "order withdrawn"), to: "o-1", context: at(5))
        // Completing with a handoff pending is refused by the domain, so only a cancel ends one.
        try await client.send(
            .start(.init(journeyId: "o-2", customerId: "c-1", journeyType: "order-to-cash", tier: "enterprise", owner: "ana")), to: "o-2",
            context: at(0))
        try await client.send(.requestHandoff(toStage: "credit-check", facts: ["order-total": "1 EUR"]), to: "o-2", context: at(1))
        await #expect(throws: Rejection.self) { try await client.send(.complete, to: "o-2", context: at(2)) }
        #expect(try await fixture.runUntilCaughtUp())

        let handoffs = try await fixture.view(
            "handoffs", "journey_id, outcome, (decided_at IS NOT NULL)::text, reason, (extract(epoch FROM wait) / 3600)::int::text", order: "journey_id")
        #expect(handoffs == [["o-1", "cancelled", "true", "order withdrawn", "4"], ["o-2", "pending", "false", nil, handoffs.last?[4] ?? ""]])
        // The open one's wait grows with now(); the ended one's stays 4 hours.
        #expect(Int(handoffs.last?[4] ?? "") ?? 0 > 4)
    }
}
