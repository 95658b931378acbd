import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Command batches and remembered journeys")
struct BatchTests {
    @Test("a batch decides each command in order, writes the accepted ones in one statement and reports each outcome")
    func batch() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let requests = [
            JourneyCommandRequest(startCommand("b-1"), to: "b-1"),
            JourneyCommandRequest(.reachMilestone("discovery-call-held"), to: "b-1"),
            JourneyCommandRequest(startCommand("b-2"), to: "b-2"),
            JourneyCommandRequest(.moveToStage("contract"), to: "b-2"),
            JourneyCommandRequest(.reachMilestone("budget-confirmed"), to: "b-1"),
            JourneyCommandRequest(startCommand("b-3"), to: "b-wrong"),
        ]
        let outcomes = try await client.send(requests)
        #expect(outcomes.count == 6)
        let b1 = try [outcomes[0].get(), outcomes[1].get(), outcomes[4].get()]
        #expect(b1.map(\.streamVersion) == [1, 2, 3] && b1.map(\.streamName) == ["journey-b-1", "journey-b-1", "journey-b-1"])
        #expect(try outcomes[2].get().types == ["JourneyStarted"])
        #expect(throws: Rejection.self) { try outcomes[3].get() }
        #expect(throws: ClientError.self) { try outcomes[5].get() }
        // The accepted commands of remembered or new journeys went in one statement.
        let transactions = Set(try [outcomes[0], outcomes[1], outcomes[2], outcomes[4]].map { try $0.get().events[0].position.transactionId })
        #expect(transactions.count == 1)
        #expect(try await client.timeline(journey: "b-2").count == 1)
        #expect(try await client.state(journey: "b-1").milestones == ["discovery-call-held", "budget-confirmed"])
    }

    @Test("a batch sent again with the same command ids returns the original results and writes nothing")
    func batchRetried() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let requests = [
            JourneyCommandRequest(startCommand("r-1"), to: "r-1"), JourneyCommandRequest(.reachMilestone("budget-confirmed"), to: "r-1"),
            JourneyCommandRequest(startCommand("r-2"), to: "r-2"),
        ]
        let first = try await client.send(requests).map { try $0.get() }
        // Another client (a restarted service) remembers nothing; this one remembers the states after.
        let restarted = WaymarkClient(store: client.store, catalog: client.catalog, logger: TestDatabase.quietLogger)
        for sender in [client, restarted] {
            let again = try await sender.send(requests).map { try $0.get() }
            let allReplayed = again.allSatisfy { $0.replayed }
            #expect(allReplayed)
            #expect(again.map(\.events) == first.map(\.events))
        }
        #expect(try await client.timeline(journey: "r-1").count == 2)
    }

    @Test("a journey moved on by another writer is loaded and decided again; nothing is lost or doubled")
    func staleMemory() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let other = WaymarkClient(store: client.store, catalog: client.catalog, logger: TestDatabase.quietLogger)
        try await client.send(startCommand("s-1"), to: "s-1")
        try await other.send(.reachMilestone("discovery-call-held"), to: "s-1")
        try await client.append(toStream: "journey-s-1", events: [EventData(type: "CRMNoteSynced", data: "{}")])
        // `client` remembers version 1; the journey is at 3.
        let moved = try await client.send(.reachMilestone("budget-confirmed"), to: "s-1")
        #expect(moved.streamVersion == 4 && !moved.replayed)
        do {
            try await client.send(.reachMilestone("discovery-call-held"), to: "s-1")
            Issue.record("a milestone reached by another writer was reached again")
        } catch let rejection as Rejection {
            #expect(rejection.code == .milestoneAlreadyReached)
        }
        let batch = try await other.send([JourneyCommandRequest(.reachMilestone("decision-maker-identified"), to: "s-1")])
        #expect(try batch[0].get().streamVersion == 5)
        #expect(try await client.state(journey: "s-1").milestones.count == 3)
    }

    @Test("a command that outlasts the timeout is cancelled with a clear error and stores nothing")
    func timeout() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await client.send(startCommand("t-1"), to: "t-1")
        let impatient = WaymarkClient(
            store: client.store, catalog: client.catalog, configuration: ClientConfiguration(commandTimeout: .milliseconds(300)),
            logger: TestDatabase.quietLogger)
        // Another transaction holds version 2 of the stream uncommitted: the command's INSERT waits.
        do {
            try await client.store.transaction(maxAttempts: 1) { transaction in
                try await transaction.append(to: "journey-t-1", expected: .exact(1), events: [EventData(type: "CRMNoteSynced", data: "{}")])
                let started = ContinuousClock.now
                do {
                    try await impatient.send(.reachMilestone("budget-confirmed"), to: "t-1")
                    Issue.record("the command did not time out")
                } catch let error as ClientError {
                    #expect(error.code == .timedOut && error.message.contains("same command id"))
                }
                // Without the timeout the command would wait for the blocker, which waits for it:
                // forever. The bound leaves a loaded CI machine room for the cancellation (6.5 s seen).
                #expect(ContinuousClock.now - started < .seconds(30))
                throw CancellationError()  // rolls the blocker back
            }
        } catch is CancellationError {}
        #expect(try await client.timeline(journey: "t-1").count == 1)
        // The pool recovers: the next command goes through. On a loaded machine it may itself
        // outlast 0.3 s; sent again with its id, as the error says, it is applied once.
        let retried = CommandContext(id: UUID())
        var attempts = 0
        while true {
            attempts += 1
            do {
                try await impatient.send(.reachMilestone("budget-confirmed"), to: "t-1", context: retried)
                break
            } catch let error as ClientError where error.code == .timedOut && attempts < 10 {}
        }
        #expect(try await client.state(journey: "t-1").milestones == ["budget-confirmed"])
    }

    @Test("the occurred-at time a command carries is stored with its events")
    func occurredAt() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let when = Date(timeIntervalSince1970: 1_760_000_000)
        try await client.send(startCommand("o-1"), to: "o-1", context: CommandContext(commandId: UUID(), sourceSystem: "crm", occurredAt: when))
        #expect(try await client.timeline(journey: "o-1")[0].metadata.occurredAt == when)
    }
}
