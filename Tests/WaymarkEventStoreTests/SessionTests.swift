import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkEventStore

@Suite("Sessions")
struct SessionTests {
    @Test("a session runs on its connection's thread and appends, reads and groups work in transactions")
    func sessionOperations() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let onConnectionThread = try await store.withSession { session -> Bool in
            var version: Int64 = 0
            for index in 0..<20 {
                let result = try await session.append(to: "journey-s", expected: .exact(version), events: [event("Step\(index)")])
                version = result.streamVersion
            }
            #expect(try await session.streamVersion("journey-s") == 20)
            #expect(try await session.readStream("journey-s", from: 19).events.map(\.type) == ["Step18", "Step19"])
            await #expect(throws: WrongExpectedVersionError.self) { try await session.append(to: "journey-s", expected: .exact(3), events: [event()]) }
            let both = try await session.transaction { transaction in
                try await transaction.append(to: "journey-t", expected: .noStream, events: [event()])
                return try await transaction.append(to: "journey-s", expected: .exact(20), events: [event()])
            }
            #expect(both.streamVersion == 21)
            #expect(try await readUntil(store, category: "journey", expected: 22).count == 22)
            return session.connection.executor.isCurrent
        }
        #expect(onConnectionThread, "the session's code ran on the connection's thread")
        #expect(try await store.streamVersion("journey-t") == 1)
    }

    @Test("a transaction refused for a retry pauses on the store's clock before it runs again")
    func retryPausesOnTheStoresClock() async throws {
        let migrated = try await TestDatabase.freshStore()
        defer { Task { await migrated.close() } }
        let clock = TestClock()
        let store = try EventStore(pool: migrated.pool, schema: migrated.schema, logger: TestDatabase.quietLogger, clock: clock)
        let attempts = Locked(0)
        let running = Task {
            try await store.transaction { transaction in
                let attempt = attempts.withLock { count -> Int in
                    count += 1
                    return count
                }
                try await transaction.append(to: "audit-1", events: [event("Opened")])
                // Another writer moves the stream on: this transaction's append is refused.
                if attempt == 1 { try await store.append(to: "acct-1", events: [event("Elsewhere")]) }
                return try await transaction.append(to: "acct-1", expected: .any, events: [event("Late")])
            }
        }
        try await eventually(
            "the refused transaction to pause before its second attempt", observing: { (attempts.value, clock.sleepers) }, until: { $0 == (1, 1) })
        #expect(attempts.value == 1, "no second attempt while the clock stands still")
        clock.advance(by: .milliseconds(50))
        #expect(try await running.value.streamVersion == 2)
        #expect(attempts.value == 2)
    }
}
