import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

@Suite("The command timeout on an injected clock")
struct CommandTimeoutClockTests {
    @Test("a blocked command times out when its clock passes the timeout, naming the id the client chose, and stores nothing")
    func timesOutOnTheTestClock() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await client.send(startCommand("c-1"), to: "c-1")
        let clock = TestClock()
        let impatient = WaymarkClient(
            store: client.store, catalog: client.catalog, configuration: ClientConfiguration(commandTimeout: .seconds(30), clock: clock),
            logger: TestDatabase.quietLogger)
        do {
            // Another transaction holds version 2 of the stream uncommitted: the command's INSERT waits.
            try await client.store.transaction(maxAttempts: 1) { transaction in
                try await transaction.append(to: "journey-c-1", expected: .exact(1), events: [EventData(type: "CRMNoteSynced", data: "{}")])
                let sent = Task { try await impatient.send(.reachMilestone("budget-confirmed"), to: "c-1") }
                try await eventually("the command to wait on its timeout", observing: { clock.sleepers }, until: { $0 == 1 })
                clock.advance(by: .seconds(29))
                #expect(clock.sleepers == 1, "29 of 30 seconds: still waiting")
                clock.advance(by: .seconds(1))
                do {
                    _ = try await sent.value
                    Issue.record("the command did not time out")
                } catch let error as ClientError {
                    #expect(error.code == .timedOut)
                    #expect(error.message.contains("same command id (") && error.message.contains("30"), "\(error.message)")
                }
                throw CancellationError()  // rolls the blocker back
            }
        } catch is CancellationError {}
        #expect(try await client.timeline(journey: "c-1").count == 1)
    }
}
