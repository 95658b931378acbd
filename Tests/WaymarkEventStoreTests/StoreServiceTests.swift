import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Store service")
struct StoreServiceTests {
    @Test("the running store announces appends to other processes at most once per announce interval, and graceful shutdown closes its pool")
    func announcesAndShutsDown() async throws {
        let migrated = try await TestDatabase.freshStore()
        let clock = TestClock()
        let store = try EventStore(pool: migrated.pool, schema: migrated.schema, logger: TestDatabase.quietLogger, clock: clock)
        let heard = Locked<[String]>([])
        let listening = Locked(false)
        let listener = PostgresListener(configuration: store.pool.configuration, channels: [store.notificationChannel], logger: TestDatabase.quietLogger) {
            event in
            switch event {
            case .listening: listening.withLock { $0 = true }
            case .notification(_, let payload): heard.withLock { $0.append(payload) }
            }
        }
        listener.start()
        // A loaded CI machine may take longer than any fixed pause to connect and LISTEN.
        try await eventually("the store to listen for appends", timeout: .seconds(30)) { listening.value }
        /// The store's announcements (empty payloads) heard since the previous fence, once a
        /// fence sent now arrives: notifications arrive in commit order, so none sent before it is
        /// still on its way.
        let fences = Locked(0)
        func announcementsUpToAFence() async throws -> Int {
            let number = fences.withLock { count in
                count += 1
                return count
            }
            let fence = "fence-\(number)"
            try await store.query("SELECT pg_notify(\(store.notificationChannel), \(fence))")
            try await eventually("the fence \(fence) to arrive", observing: { heard.value }, until: { $0.contains(fence) })
            return heard.withLock { heard in
                defer { heard.removeAll() }
                return heard.filter(\.isEmpty).count
            }
        }
        try await withServices([store]) {
            try await store.append(to: "journey-1", events: [event()])
            try await eventually("one announcement", observing: { heard.value }, until: { $0.count == 1 })
            // Announced; the store now waits out its interval on the test clock.
            try await eventually("the store to wait out its announce interval", observing: { clock.sleepers }, until: { $0 == 1 })
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for index in 0..<50 { try await store.append(to: "journey-burst\(writer)x\(index)", events: [event()]) }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await announcementsUpToAFence() == 1, "the first append announced, the burst within its interval not yet")
            // The interval passes: the burst's 200 appends are announced once.
            clock.advance(by: .milliseconds(20))
            try await eventually("the burst to be announced", observing: { heard.value.filter(\.isEmpty).count }, until: { $0 >= 1 })
            try await eventually("the store to wait out its next interval", observing: { clock.sleepers }, until: { $0 == 1 })
            #expect(try await announcementsUpToAFence() == 1, "200 appends in one interval, one announcement")
            // Nothing appended since: no announcement when the next interval ends.
            clock.advance(by: .milliseconds(20))
            try await eventually("the store to wait for appends", observing: { clock.sleepers }, until: { $0 == 1 })
            #expect(try await announcementsUpToAFence() == 0)
        }
        await listener.stop()
        await #expect {
            try await store.query("SELECT 1")
        } throws: { ($0 as? PostgresError)?.code == PostgresError.closed }
    }
}
