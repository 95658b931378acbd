import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

/// Rules the deciders and reads have, each stated by a test that fails when the rule is broken.
@Suite("Client rules")
struct RuleTests {
    @Test("completing a journey that waits on the customer is refused with its code, and nothing is stored")
    func completeWhileWaiting() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await client.send(startCommand("j-w"), to: "j-w")
        try await client.send(.waitOnCustomer(reason: "signed order form"), to: "j-w")
        let before = try await client.store.streamVersion("journey-j-w")
        do {
            try await client.send(.complete, to: "j-w")
            Issue.record("a journey waiting on the customer was completed")
        } catch let rejection as Rejection {
            #expect(rejection.code == .waitingOnCustomer)
        }
        #expect(try await client.store.streamVersion("journey-j-w") == before)
        #expect(try await client.state(journey: "j-w").status == .waitingOnCustomer)
    }

    @Test("a milestone is reached once per visit to its stage: again after a loop back, never twice in one visit")
    func milestonePerVisit() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await client.send(startCommand("j-m"), to: "j-m")
        try await client.send(.reachMilestone("discovery-call-held"), to: "j-m")
        do {
            try await client.send(.reachMilestone("discovery-call-held"), to: "j-m")
            Issue.record("a milestone was reached twice in one visit")
        } catch let rejection as Rejection {
            #expect(rejection.code == .milestoneAlreadyReached)
        }
        try await client.send(.moveToStage("proposal"), to: "j-m")
        try await client.send(.moveToStage("qualification"), to: "j-m")
        let again = try await client.send(.reachMilestone("discovery-call-held"), to: "j-m")
        #expect(again.types == ["MilestoneReached"] && !again.replayed)
        await #expect(throws: Rejection.self) { try await client.send(.reachMilestone("discovery-call-held"), to: "j-m") }
        let reached = try await client.timeline(journey: "j-m").filter { $0.type == "MilestoneReached" }
        #expect(reached.count == 2)
    }

    @Test("consent read as of exactly the instant of the grant shows it granted; a microsecond before, not yet")
    func consentAsOfGrant() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let registry = ConsentRegistry(client: client)
        let granted = Date(timeIntervalSince1970: 1_780_000_000)
        try await registry.record(.give(ConsentTests.record()), subject: "s-t", context: CommandContext(occurredAt: granted))
        #expect(try await registry.consents(of: "s-t", asOf: granted).answers[ConsentTests.email]?.status == .granted)
        #expect(try await registry.consents(of: "s-t", asOf: granted.addingTimeInterval(-0.000_001)).answers[ConsentTests.email] == nil)
    }
}
