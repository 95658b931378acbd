import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// What `waymark notifications status` shows: the outbox by state, what is due and how late, and
/// the workers, read without DDL (a read-only role can run it).
public struct NotificationStatus: Sendable, Equatable {
    public struct Worker: Sendable, Equatable {
        public var worker: String
        public var startedAt: Date
        public var seenAt: Date
        public var delivered: Int
        public var failed: Int
        public var suppressed: Int
    }

    /// Notifications by state (`pending`, `delivered`, `failed`, `suppressed`).
    public var byState: [String: Int]
    /// Pending notifications due before `now` and not held by a worker.
    public var due: Int
    /// Pending notifications put off to a retry (attempted at least once).
    public var retrying: Int
    /// When the oldest pending notification was requested.
    public var oldestPending: Date?
    /// Workers, the most recently seen first.
    public var workers: [Worker]

    public static func read(_ store: EventStore, now: Date, logger: Logger) async throws -> NotificationStatus {
        try await NotificationSchema.requireMigrated(store, logger: logger)
        var byState: [String: Int] = [:]
        for row in try await store.pool.query("SELECT state, count(*) FROM nt_deliveries GROUP BY state") {
            let (state, count) = try row.decode(String.self, Int.self)
            byState[state] = count
        }
        let pending = try await store.pool.query(
            """
            SELECT count(*) FILTER (WHERE next_attempt_at <= \(now) AND (leased_until IS NULL OR leased_until <= \(now))),
                   count(*) FILTER (WHERE attempts > 0), min(requested_at)
            FROM nt_deliveries WHERE state = 'pending'
            """)
        let (due, retrying, oldest) = try pending[0].decode(Int.self, Int.self, Date?.self)
        let workers = try await store.pool.query(
            "SELECT worker, started_at, seen_at, delivered, failed, suppressed FROM nt_workers ORDER BY seen_at DESC, worker"
        ).map { row in
            let (worker, startedAt, seenAt, delivered, failed, suppressed) = try row.decode(String.self, Date.self, Date.self, Int.self, Int.self, Int.self)
            return Worker(worker: worker, startedAt: startedAt, seenAt: seenAt, delivered: delivered, failed: failed, suppressed: suppressed)
        }
        return NotificationStatus(byState: byState, due: due, retrying: retrying, oldestPending: oldest, workers: workers)
    }
}
