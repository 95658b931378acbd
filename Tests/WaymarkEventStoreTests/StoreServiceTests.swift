import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Store service")
struct StoreServiceTests {
    @Test("the running store announces appends to other processes, and graceful shutdown closes its pool")
    func announcesAndShutsDown() async throws {
        let store = try await TestDatabase.freshStore()
        let heard = Locked(0)
        let listener = PostgresListener(configuration: store.pool.configuration, channels: [store.notificationChannel], logger: TestDatabase.quietLogger) {
            event in
            if case .notification = event { heard.withLock { $0 += 1 } }
        }
        listener.start()
        try await Task.sleep(for: .milliseconds(200))
        try await withServices([store]) {
            try await store.append(to: "journey-1", events: [event()])
            #expect(try await eventually(timeout: .seconds(5)) { heard.value >= 1 })
            // Many appends in a burst are announced a few times, not once each.
            for index in 0..<50 { try await store.append(to: "journey-burst\(index)", events: [event()]) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(heard.value < 20, "announcements are coalesced: \(heard.value) for 51 appends")
        }
        await listener.stop()
        await #expect {
            try await store.query("SELECT 1")
        } throws: { ($0 as? PostgresError)?.code == PostgresError.closed }
    }
}
