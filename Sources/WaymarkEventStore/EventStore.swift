import Foundation
import Logging
import Synchronization
import WaymarkPostgres

/// The PostgreSQL event store: appends with optimistic concurrency and idempotency, reads of
/// streams, categories and the global log, and the wake-ups that keep subscriptions live.
public final class EventStore: Sendable {
    public let pool: PostgresPool
    public let schema: String
    let logger: Logger
    /// Bumped after every append this process commits; wakes in-process subscriptions at once.
    public let appended = ChangeSignal()
    /// The channel on which appends are announced to other processes (coalesced, outside the append).
    public let notificationChannel: String
    let notifier: Mutex<NotifierState>
    let announceInterval: Duration
    /// Measures the announce interval (a test clock in tests).
    let clock: any Clock<Duration>
    /// Versions this process has seen streams reach; lets appends skip the version look-up.
    let versions: StreamVersionCache
    let metrics: EventStoreMetrics

    struct NotifierState {
        var pending = false
    }
    /// Bumped when an append asks the store service to announce it to other processes.
    let announcementRequested = ChangeSignal()

    /// Limits on a single append.
    public static let maxBatchSize = 10_000
    public static let maxNameLength = 200

    /// - Parameters:
    ///   - pool: connections whose `search_path` starts with `schema`.
    ///   - announceInterval: appends are announced on `notificationChannel` at most this often,
    ///     from a separate short transaction, never inside the append.
    ///   - clock: measures `announceInterval` (a test clock in tests).
    ///   - knownStreamVersions: how many streams' versions to remember (0: none). An append to a
    ///     stream whose version this process saw (by appending to it or reading it) skips the look-up
    ///     of that version; see `fastAppend` and `StreamVersionCache`.
    public init(
        pool: PostgresPool, schema: String, logger: Logger, announceInterval: Duration = .milliseconds(20),
        clock: any Clock<Duration> = ContinuousClock(), knownStreamVersions: Int = 100_000
    ) throws {
        try Self.checkSchemaName(schema)
        guard pool.configuration.searchPath?.first == schema else {
            throw EventStoreError(.invalidInput, "the pool's search_path must start with the event store schema '\(schema)'")
        }
        let missing = Self.sessionSettings.sorted { $0.key < $1.key }.filter { pool.configuration.settings[$0.key] != $0.value }
        if !missing.isEmpty {
            throw EventStoreError(
                .invalidInput,
                "the pool's connections must set \(missing.map { "\($0.key) = \($0.value)" }.joined(separator: ", ")) (see EventStore.sessionSettings); build its configuration with EventStore.poolConfiguration(url:schema:)"
            )
        }
        self.pool = pool
        self.schema = schema
        self.logger = logger
        self.notificationChannel = String("waymark_events_\(schema)".prefix(63))
        self.notifier = Mutex(NotifierState())
        self.announceInterval = announceInterval
        self.clock = clock
        self.versions = StreamVersionCache(capacity: max(0, knownStreamVersions))
        self.metrics = EventStoreMetrics(schema: schema)
    }

    /// Session settings the store's statements rely on. Every statement the store runs is an index
    /// lookup or an index range scan; with sequential scans off the planner takes the index whatever
    /// the table's statistics say at the moment, so a plan cached while the table looked empty (a
    /// new installation, a fresh schema) does not stay a sequential scan while it grows. Other SQL on
    /// these connections plans under the same setting: a sequential scan is still used where no
    /// index applies, only never preferred to one.
    ///
    /// JIT compilation is off: a disabled sequential scan adds a huge cost to any plan that still
    /// needs one (a projection's upsert from its staging table), which lifts every such statement
    /// over `jit_above_cost` and had LLVM compile and optimise it on each run (6–7 % of all CPU in
    /// a projection build). The store's statements are short; JIT never pays for them.
    public static let sessionSettings: [String: String] = ["enable_seqscan": "off", "jit": "off"]

    /// The configuration of a pool for a store in `schema`: `schema` first on the search path, and
    /// `sessionSettings`.
    public static func poolConfiguration(url: String, schema: String, applicationName: String = "waymark") -> PostgresConfiguration {
        PostgresConfiguration(url: url, searchPath: [schema], applicationName: applicationName, settings: sessionSettings)
    }

    /// Opens a pool on `url` with `schema` as its search path; the options are those of `init`.
    public static func connect(
        url: String, schema: String = "waymark", maxConnections: Int = 10, logger: Logger,
        announceInterval: Duration = .milliseconds(20), clock: any Clock<Duration> = ContinuousClock(), knownStreamVersions: Int = 100_000
    ) throws -> EventStore {
        try Self.checkSchemaName(schema)
        let pool = PostgresPool(configuration: poolConfiguration(url: url, schema: schema), maxConnections: maxConnections, logger: logger)
        return try EventStore(
            pool: pool, schema: schema, logger: logger, announceInterval: announceInterval, clock: clock, knownStreamVersions: knownStreamVersions)
    }

    static func checkSchemaName(_ schema: String) throws {
        do {
            try PostgresIdentifier.checkSchemaName(schema)
        } catch let error as PostgresError {
            throw EventStoreError(.invalidInput, error.message)
        }
    }

    /// The stream name's prefix before the first `-`.
    public static func category(of streamName: String) -> String {
        if let dash = streamName.utf8.firstIndex(of: UInt8(ascii: "-")) { return String(streamName[..<dash]) }
        return streamName
    }

    /// Closes the pool.
    public func close() async {
        await pool.close()
    }
}
