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
        let listening = Locked(false)
        let listener = PostgresListener(configuration: store.pool.configuration, channels: [store.notificationChannel], logger: TestDatabase.quietLogger) {
            event in
            switch event {
            case .listening: listening.withLock { $0 = true }
            case .notification: heard.withLock { $0 += 1 }
            }
        }
        listener.start()
        // A loaded CI machine may take longer than any fixed pause to connect and LISTEN.
        try await eventually("the store to listen for appends", timeout: .seconds(30)) { listening.value }
        try await withServices([store]) {
            try await store.append(to: "journey-1", events: [event()])
            try await eventually("heard.value >= 1", observing: { heard.value }, until: { $0 >= 1 })
            // Appends in a burst are announced at most once per announce interval (20 ms), not once each.
            let before = heard.value
            let clock = ContinuousClock()
            let started = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for index in 0..<50 { try await store.append(to: "journey-burst\(writer)x\(index)", events: [event()]) }
                    }
                }
                try await group.waitForAll()
            }
            try await Task.sleep(for: .milliseconds(100))
            let allowed = Int((clock.now - started) / .milliseconds(20)) + 2
            #expect(heard.value - before <= allowed, "\(heard.value - before) announcements for 200 appends, at most \(allowed) expected")
            #expect(heard.value - before < 200)
        }
        await listener.stop()
        await #expect {
            try await store.query("SELECT 1")
        } throws: { ($0 as? PostgresError)?.code == PostgresError.closed }
    }
}
