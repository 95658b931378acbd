import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// What `waymark process-manager status` shows: the deadline table and the instances that fired,
/// read without DDL (a read-only role can run it).
public struct ProcessManagerStatus: Sendable, Equatable {
    /// Pending deadlines of one kind.
    public struct Kind: Sendable, Equatable {
        public var kind: String
        public var pending: Int
        public var overdue: Int
    }

    /// An instance that started or fired lately.
    public struct Instance: Sendable, Equatable {
        public var instance: String
        public var startedAt: Date
        public var seenAt: Date
        public var fired: Int
    }

    /// Pending deadlines by kind, sorted by kind.
    public var kinds: [Kind]
    /// Pending deadlines due before `now`.
    public var overdue: Int
    /// The due time of the oldest overdue deadline.
    public var oldestOverdue: Date?
    /// When a deadline last fired.
    public var lastFired: Date?
    /// Instances, the most recently seen first.
    public var instances: [Instance]

    public var pending: Int { kinds.reduce(0) { $0 + $1.pending } }

    /// Reads the status of `store`'s process manager as of `now`; `ProcessManagerError.notMigrated`
    /// when the schema lacks its tables.
    public static func read(_ store: EventStore, now: Date, logger: Logger) async throws -> ProcessManagerStatus {
        try await ProcessManagerSchema.requireMigrated(store, logger: logger)
        let kindRows = try await store.pool.query(
            """
            SELECT kind, count(*), count(*) FILTER (WHERE due_at <= \(now)) FROM pm_deadlines
            WHERE state = 'pending' GROUP BY kind ORDER BY kind
            """)
        let kinds = try kindRows.map { row in
            let (kind, pending, overdue) = try row.decode(String.self, Int.self, Int.self)
            return Kind(kind: kind, pending: pending, overdue: overdue)
        }
        let summary = try await store.pool.query(
            """
            SELECT (SELECT min(due_at) FROM pm_deadlines WHERE state = 'pending' AND due_at <= \(now)),
                   (SELECT max(closed_at) FROM pm_deadlines WHERE state = 'fired')
            """)
        let oldest = try summary[0].decode(Date?.self, at: 0)
        let last = try summary[0].decode(Date?.self, at: 1)
        let instanceRows = try await store.pool.query("SELECT instance, started_at, seen_at, fired FROM pm_instances ORDER BY seen_at DESC, instance")
        let instances = try instanceRows.map { row in
            let (instance, started, seen, fired) = try row.decode(String.self, Date.self, Date.self, Int.self)
            return Instance(instance: instance, startedAt: started, seenAt: seen, fired: fired)
        }
        return ProcessManagerStatus(
            kinds: kinds, overdue: kinds.reduce(0) { $0 + $1.overdue }, oldestOverdue: oldest, lastFired: last, instances: instances)
    }
}

/// `waymark process-manager rebuild`.
public enum ProcessManagerRebuild {
    /// Drops the derived state (journeys' and consent subjects' watches, customers' tiers, deadlines) and the scheduler's
    /// checkpoint in one transaction that holds the subscription's lock, so no scheduler batch
    /// interleaves; the scheduler then derives it again from the log, where the events of fired
    /// deadlines count as fired, so nothing fires twice.
    public static func rebuild(_ store: EventStore, logger: Logger) async throws {
        try await ProcessManagerSchema.requireMigrated(store, logger: logger)
        let name = ProcessManager.subscriptionName
        try await store.transaction { transaction in
            try await CatchUpSubscription.restart(name, in: transaction)
            try await transaction.execute("TRUNCATE pm_watches, pm_customers, pm_consent_watches, pm_deadlines")
        }
        logger.info("process manager state dropped; the scheduler derives it again from the log")
    }
}
