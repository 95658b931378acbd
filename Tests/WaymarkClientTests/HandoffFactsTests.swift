import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

@Suite("Handoffs missing facts")
struct HandoffFactsTests {
    @Test("the refusal to accept a handoff lacking facts says what works, and doing that works")
    func messageTellsTheWay() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await client.send(
            .start(.init(journeyId: "o-1", customerId: "c-1", journeyType: "order-to-cash", tier: "enterprise", owner: "ana")), to: "o-1")
        try await client.send(.requestHandoff(toStage: "credit-check", facts: ["order-total": "1200 EUR"]), to: "o-1")
        let facts = ["order-total": "1200 EUR", "payment-terms": "net 30"]
        do {
            try await client.send(.acceptHandoff(by: "billing-desk"), to: "o-1")
            Issue.record("a handoff lacking payment terms was accepted")
        } catch let rejection as Rejection {
            #expect(rejection.code == .acceptanceCriteriaMissing)
            #expect(rejection.message.contains("payment-terms") && rejection.message.contains("reject it"), "\(rejection.message)")
        }
        // Asking again before the rejection is refused, as the message implies.
        await #expect(throws: Rejection.self) { try await client.send(.requestHandoff(toStage: "credit-check", facts: facts), to: "o-1") }
        try await client.send(.rejectHandoff(by: "billing-desk", reason: "payment terms missing"), to: "o-1")
        try await client.send(.requestHandoff(toStage: "credit-check", facts: facts), to: "o-1")
        let accepted = try await client.send(.acceptHandoff(by: "billing-desk"), to: "o-1")
        #expect(accepted.types == ["HandoffAccepted", "StageEntered"])
    }
}
