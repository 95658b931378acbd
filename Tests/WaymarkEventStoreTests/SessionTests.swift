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
}
