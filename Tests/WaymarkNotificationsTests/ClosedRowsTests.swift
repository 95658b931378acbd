import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkNotifications

/// Closing outbox rows from two sides at once: the worker's recorder, right after it appended the
/// outcomes, and the outbox feed, which may read those outcomes before the recorder closes them.
@Suite(.scaledTimeLimit(minutes: 2)) struct ClosedRowsTests {
    @Test("the recorder skips rows the feed is closing instead of waiting on them; each row is closed and counted once")
    func recorderSkipsRowsTheFeedHolds() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await NotificationSchema.migrate(store.pool, schema: store.schema, logger: TestDatabase.quietLogger)
        for id in ["n-a", "n-b", "n-c"] {
            try await store.pool.query(
                """
                INSERT INTO nt_deliveries (notification_id, stream, request, request_event_id, requested_at, state, next_attempt_at, leased_by)
                VALUES (\(id), 'journey-j-1', '{}', \(UUID()), now(), 'pending', now(), 'w1')
                """)
        }
        let now = Date()
        func states() async throws -> [String] {
            try await store.pool.query("SELECT notification_id, state FROM nt_deliveries ORDER BY 1").map {
                try $0.decode(String.self, at: 0) + "=" + $0.decode(String.self, at: 1)
            }
        }
        func rows(_ ids: [String], worker: String) -> ClosedRows {
            var rows = ClosedRows()
            for id in ids { rows.append(id: id, state: "delivered", at: now, worker: worker) }
            return rows
        }
        // The feed closes n-b and n-a (in the order it read them) and holds them until its batch
        // commits. (Its outcomes name another worker here, so that its count's row is not the one
        // the recorder counts on: that lock lasts only until the feed's batch commits.)
        let (held, hold) = AsyncStream<Void>.makeStream()
        let (release, go) = AsyncStream<Void>.makeStream()
        let feed = Task {
            try await store.transaction { transaction in
                _ = try await transaction.execute(rows(["n-b", "n-a"], worker: "w2").query(seenAt: now))
                hold.yield()
                for await _ in release { break }
            }
        }
        for await _ in held { break }
        // Meanwhile the recorder closes all three: the two the feed holds are left to it, not waited for.
        try await store.transaction { transaction in
            _ = try await transaction.execute("SET LOCAL lock_timeout = '5s'")
            _ = try await transaction.execute(rows(["n-a", "n-b", "n-c"], worker: "w1").query(seenAt: now, skippingLocked: true))
        }
        #expect(try await states() == ["n-a=pending", "n-b=pending", "n-c=delivered"], "the feed's rows are not closed until it commits")
        go.yield()
        go.finish()
        try await feed.value
        #expect(try await states() == ["n-a=delivered", "n-b=delivered", "n-c=delivered"])
        let counted = try await store.pool.query("SELECT worker, delivered FROM nt_workers ORDER BY 1").map {
            try $0.decode(String.self, at: 0) + "=" + String($0.decode(Int64.self, at: 1))
        }
        #expect(counted == ["w1=1", "w2=2"], "each row counted once, by whoever closed it")
    }
}
