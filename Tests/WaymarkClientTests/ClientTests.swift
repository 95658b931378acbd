import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

let configDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config")

func freshClient(maxConnections: Int = 6) async throws -> WaymarkClient {
    let store = try await TestDatabase.freshStore(maxConnections: maxConnections)
    let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
    return WaymarkClient(store: store, catalog: catalog, logger: TestDatabase.quietLogger)
}

func startCommand(_ journeyId: String, tier: String = "enterprise") -> JourneyCommand {
    .start(.init(journeyId: journeyId, customerId: "customer-7", journeyType: "new-business", tier: tier, owner: "ana"))
}

@Suite("Client commands")
struct ClientTests {
    @Test("a command is decided on the stored journey and appended; its events carry the command's metadata")
    func sendAndRead() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let context = CommandContext(commandId: UUID(), actor: "crm-sync", sourceSystem: "crm")
        let started = try await client.send(startCommand("j-1"), to: "j-1", context: context)
        #expect(started.types == ["JourneyStarted"] && !started.replayed && started.streamVersion == 1)
        try await client.send(.reachMilestone("discovery-call-held"), to: "j-1")
        try await client.send(.moveToStage("proposal"), to: "j-1")
        // An integration event the domain does not model counts toward the version only.
        try await client.append(toStream: "journey-j-1", events: [EventData(type: "CRMNoteSynced", data: #"{"note":"n-1"}"#)])
        let moved = try await client.send(.moveToStage("contract"), to: "j-1")
        #expect(moved.streamVersion == 5)
        let state = try await client.state(journey: "j-1")
        #expect(state.stage == "contract" && state.stagesVisited == ["qualification", "proposal", "contract"])
        let timeline = try await client.timeline(journey: "j-1")
        #expect(timeline.map(\.type) == ["JourneyStarted", "MilestoneReached", "StageEntered", "CRMNoteSynced", "StageEntered"])
        #expect(timeline[0].metadata.correlationId == "j-1")
        #expect(timeline[0].metadata.causationId == context.commandId!.uuidString.lowercased())
        #expect(timeline[0].metadata.actor == "crm-sync" && timeline[0].metadata.sourceSystem == "crm")
        #expect(timeline[0].id == CommandIDs.eventID(command: context.commandId!, index: 0))
    }

    @Test("a retried command returns the original result and writes nothing, even after the journey moved on")
    func retriedCommand() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await client.send(startCommand("j-2"), to: "j-2")
        let context = CommandContext(id: UUID())
        let first = try await client.send(.reachMilestone("budget-confirmed"), to: "j-2", context: context)
        try await client.send(.reachMilestone("discovery-call-held"), to: "j-2")
        let again = try await client.send(.reachMilestone("budget-confirmed"), to: "j-2", context: context)
        #expect(again.replayed)
        #expect(again.events == first.events)
        #expect(try await client.timeline(journey: "j-2").count == 3)
        // The same command id on another journey is refused, not silently replayed.
        await #expect(throws: ClientError.self) { try await client.send(.reachMilestone("budget-confirmed"), to: "j-other", context: context) }
    }

    @Test("rejections arrive typed and store nothing")
    func rejections() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        await #expect(throws: Rejection.self) { try await client.send(.reachMilestone("budget-confirmed"), to: "j-3") }
        try await client.send(startCommand("j-3"), to: "j-3")
        do {
            try await client.send(.moveToStage("contract"), to: "j-3")
            Issue.record("a transition the definition does not allow was accepted")
        } catch let rejection as Rejection {
            #expect(rejection.code == .transitionNotAllowed)
        }
        await #expect(throws: ClientError.self) {
            try await client.send(.start(.init(journeyId: "j-4", customerId: "c", journeyType: "space-travel", tier: "standard")), to: "j-4")
        }
        #expect(try await client.timeline(journey: "j-3").count == 1)
        #expect(try await client.timeline(journey: "j-4").isEmpty)
    }

    @Test("16 concurrent senders to one journey all land in some order or get a clear rejection; the stream stays valid")
    func concurrentSenders() async throws {
        let client = try await freshClient(maxConnections: 18)
        defer { Task { await client.store.close() } }
        try await client.send(startCommand("j-hot", tier: "strategic"), to: "j-hot")
        let outcomes = Locked<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<16 {
                group.addTask {
                    // Half reassign the owner (always allowed unless it is already theirs), half
                    // reach the qualification milestones (each once only).
                    let command: JourneyCommand =
                        sender % 2 == 0
                        ? .reassignOwner(to: "owner-\(sender)")
                        : .reachMilestone(["discovery-call-held", "budget-confirmed", "decision-maker-identified"][sender % 3])
                    do {
                        try await client.send(command, to: "j-hot")
                        outcomes.withLock { $0.append("ok") }
                    } catch let rejection as Rejection {
                        outcomes.withLock { $0.append(rejection.code.name) }
                    } catch let conflict as CommandConflictError {
                        outcomes.withLock { $0.append(conflict.code.name) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let results = outcomes.value
        #expect(results.count == 16)
        #expect(results.allSatisfy { ["ok", "milestone_already_reached", "concurrency_conflict"].contains($0) }, "\(results)")
        let timeline = try await client.timeline(journey: "j-hot")
        #expect(timeline.map(\.streamVersion) == Array(1...Int64(timeline.count)))
        #expect(timeline.count == 1 + results.filter { $0 == "ok" }.count)
        let milestones = timeline.filter { $0.type == "MilestoneReached" }.count
        #expect(milestones == 3, "each milestone once: \(timeline.map(\.type))")
        let decoded = try timeline.compactMap { try JourneyEvent.decode(type: $0.type, data: $0.data) }
        #expect(JourneyState.replay(decoded).milestones.count == 3)
    }
}
