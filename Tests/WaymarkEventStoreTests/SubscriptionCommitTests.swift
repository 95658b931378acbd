import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Subscriptions' commits")
struct SubscriptionCommitTests {
    @Test("a subscription asked not to wait for the disk runs each batch with synchronous_commit off; by default a batch keeps the session's setting")
    func commitModes() async throws {
        let fresh = try await TestDatabase.freshStore()
        defer { Task { await fresh.close() } }
        let store = try TestDatabase.waitingForTheDisk(sharing: fresh)
        defer { Task { await store.close() } }
        for index in 0..<3 { try await store.append(to: "journey-\(index)", events: [event()]) }
        var seen: [String: Set<String>] = [:]
        for (name, synchronous) in [("durable", true), ("derived", false)] {
            let settings = Locked<Set<String>>([])
            let subscription = try CatchUpSubscription(
                store: store, name: name, batchSize: 1, synchronousCommit: synchronous, logger: TestDatabase.quietLogger
            ) { _, transaction in
                let setting = try await transaction.query("SELECT current_setting('synchronous_commit')")[0].decode(String.self, at: 0)
                settings.withLock { _ = $0.insert(setting) }
            }
            let caughtUp = try await withServices([subscription]) { try await subscription.waitUntilCaughtUp(timeout: TestTime.deadline) }
            #expect(caughtUp)
            seen[name] = settings.value
        }
        #expect(seen == ["durable": ["on"], "derived": ["off"]])
        // The setting was the batch transaction's alone: the sessions keep their own.
        for _ in 0..<2 { #expect(try await store.pool.query("SHOW synchronous_commit")[0].decode(String.self, at: 0) == "on") }
    }
}
