import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

/// A command id names one command: sent again with the same content it is a retry and replays;
/// sent with anything else it is refused with `command_id_reused`, never answered from the log.
@Suite("Command ids reused for other commands")
struct CommandIdReuseTests {
    static let tiers: Set<String> = ["strategic", "enterprise", "standard"]

    /// Expects `command_id_reused` naming `id` from `body`.
    static func expectReused(_ id: UUID, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("a second command under id \(id) was accepted", sourceLocation: sourceLocation)
        } catch let error as ClientError {
            #expect(error.code == .commandIdReused, sourceLocation: sourceLocation)
            #expect(error.message.contains(id.uuidString.lowercased()), "the message names the id: \(error.message)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected command_id_reused, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("journey commands, on the remembered and the loading path: another command under a used id is refused, a retry replays", arguments: [true, false])
    func journeyCommands(remembered: Bool) async throws {
        let shared = try await freshClient()
        defer { Task { await shared.store.close() } }
        // Without remembered states every command goes the loading way.
        let client =
            remembered
            ? shared : WaymarkClient(store: shared.store, catalog: shared.catalog, configuration: .init(cachedStreams: 0), logger: TestDatabase.quietLogger)
        try await client.send(startCommand("j-1"), to: "j-1")
        let context = CommandContext(commandId: UUID(), actor: "crm-sync")
        let first = try await client.send(.reachMilestone("discovery-call-held"), to: "j-1", context: context)
        await Self.expectReused(context.commandId!) { try await client.send(.reachMilestone("budget-confirmed"), to: "j-1", context: context) }
        await Self.expectReused(context.commandId!) { try await client.send(.reachMilestone("discovery-call-held"), to: "j-2", context: context) }
        #expect(try await client.timeline(journey: "j-1").map(\.type) == ["JourneyStarted", "MilestoneReached"])
        // The same command again, with another actor and time: a retry.
        let retry = CommandContext(commandId: context.commandId, actor: "someone-else", occurredAt: Date(timeIntervalSince1970: 0))
        let again = try await client.send(.reachMilestone("discovery-call-held"), to: "j-1", context: retry)
        #expect(again.replayed && again.events == first.events)
        // A start under the id of another journey's start.
        let start = CommandContext(id: UUID())
        try await client.send(startCommand("j-3"), to: "j-3", context: start)
        await Self.expectReused(start.commandId!) { try await client.send(startCommand("j-4"), to: "j-4", context: start) }
        #expect(try await client.timeline(journey: "j-4").isEmpty)
        // Each event says which command wrote it.
        let stored = try await client.timeline(journey: "j-1")
        #expect(stored.allSatisfy { $0.metadata.extra["command_fingerprint"]?.count == 32 })
    }

    @Test("customer commands: link, tier change or merge under a registration's id are refused; a registration with another name is not a retry")
    func customerCommands() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let directory = CustomerDirectory(client: client, tiers: Self.tiers)
        let context = CommandContext(commandId: UUID(), actor: "crm-sync")
        try await directory.register(customerId: "c-1", name: PersonalData("Ada"), tier: "standard", context: context)
        await Self.expectReused(context.commandId!) { try await directory.link(ExternalID(system: "crm", id: "A-1"), to: "c-1", context: context) }
        await Self.expectReused(context.commandId!) { try await directory.changeTier(customerId: "c-1", to: "enterprise", context: context) }
        // PersonalData hides its value in descriptions: the fingerprint must not be built from them.
        await Self.expectReused(context.commandId!) {
            try await directory.register(customerId: "c-1", name: PersonalData("Bob"), tier: "standard", context: context)
        }
        #expect(try await directory.register(customerId: "c-1", name: PersonalData("Ada"), tier: "standard", context: context).replayed)
        try await directory.register(customerId: "c-2", name: PersonalData("Bo"), tier: "standard")
        await Self.expectReused(context.commandId!) { try await directory.merge("c-2", into: "c-1", context: context) }
        let state = try await directory.state(of: "c-1")
        #expect(state.externalIDs.isEmpty && state.tier == "standard" && state.version == 1)
        #expect(try await directory.state(of: "c-2").mergedInto == nil)
        // Link and merge replay as retries of themselves, and refuse other commands under their ids.
        let link = CommandContext(id: UUID())
        let linked = try await directory.link(ExternalID(system: "crm", id: "A-1"), to: "c-1", context: link)
        #expect(try await directory.link(ExternalID(system: "crm", id: "A-1"), to: "c-1", context: link).events == linked.events)
        await Self.expectReused(link.commandId!) { try await directory.link(ExternalID(system: "crm", id: "A-2"), to: "c-1", context: link) }
        await Self.expectReused(link.commandId!) { try await directory.changeTier(customerId: "c-1", to: "enterprise", context: link) }
    }

    @Test("consent commands: a withdrawal or a propagation report under a grant's id is refused")
    func consentCommands() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let registry = ConsentRegistry(client: client)
        let context = CommandContext(id: UUID())
        let given = try await registry.record(.give(ConsentTests.record()), subject: "s-1", context: context)
        await Self.expectReused(context.commandId!) {
            try await registry.record(.withdraw(ConsentTests.email, proofReference: "click-1"), subject: "s-1", context: context)
        }
        await Self.expectReused(context.commandId!) {
            try await registry.record(
                .recordPropagation(.init(scope: ConsentTests.email, system: "crm", decision: given.events[0].id, acknowledgement: "A")), subject: "s-1",
                context: context)
        }
        #expect(try await registry.record(.give(ConsentTests.record()), subject: "s-1", context: context).replayed)
        #expect(try await client.store.streamVersion(ConsentRegistry.streamName(subject: "s-1")) == 1)
    }

    @Test("batches: an id given twice in one batch, or one used before, is refused for the other command and replays for the same")
    func batches() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let used = CommandContext(id: UUID())
        _ = try await client.send([JourneyCommandRequest(startCommand("j-1"), to: "j-1"), JourneyCommandRequest(startCommand("j-2"), to: "j-2")])
        try await client.send(.reachMilestone("discovery-call-held"), to: "j-1", context: used)
        let twice = CommandContext(id: UUID())
        let outcomes = try await client.send([
            JourneyCommandRequest(.reachMilestone("discovery-call-held"), to: "j-2", context: twice),
            JourneyCommandRequest(.reachMilestone("budget-confirmed"), to: "j-2", context: twice),
            JourneyCommandRequest(.reachMilestone("budget-confirmed"), to: "j-1", context: used),
            JourneyCommandRequest(.reachMilestone("discovery-call-held"), to: "j-1", context: used),
            JourneyCommandRequest(.reachMilestone("budget-confirmed"), to: "j-1"),
        ])
        #expect(try outcomes[0].get().replayed == false)
        await Self.expectReused(twice.commandId!) { _ = try outcomes[1].get() }
        await Self.expectReused(used.commandId!) { _ = try outcomes[2].get() }
        #expect(try outcomes[3].get().replayed)
        #expect(try outcomes[4].get().replayed == false)
        #expect(try await client.timeline(journey: "j-1").count == 3)
        #expect(try await client.timeline(journey: "j-2").count == 2)
        // The same command twice in one batch: the second is a retry of the first.
        let same = CommandContext(id: UUID())
        let repeated = try await client.send([
            JourneyCommandRequest(.moveToStage("proposal"), to: "j-2", context: same),
            JourneyCommandRequest(.moveToStage("proposal"), to: "j-2", context: same),
        ])
        #expect(try repeated[1].get().replayed && repeated[1].get().events == repeated[0].get().events)
        #expect(try await client.timeline(journey: "j-2").count == 3)
    }
}
