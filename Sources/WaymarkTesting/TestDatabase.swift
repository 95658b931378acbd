import Foundation
import Logging
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkReactions

/// The database tests run on: `$WAYMARK_TEST_DATABASE_URL` when set, otherwise a private cluster
/// that the test process starts once (initdb into a temporary folder, loopback only) and stops when
/// it exits. Every test gets a schema of its own.
///
/// Services built on Waymark use it the way Waymark's own tests do: `try await
/// TestDatabase.freshStore()` gives an event store on a new, migrated schema of a private
/// PostgreSQL, and `anotherProcess(sharing:)` a second store on the same tables. The server
/// binaries come from Debian's `postgresql` package (or `$WAYMARK_PG_BIN`).
public enum TestDatabase {
    private static let cluster: Result<(url: String, cluster: LocalPostgresCluster?), Error> = Result {
        if let url = ProcessInfo.processInfo.environment["WAYMARK_TEST_DATABASE_URL"], !url.isEmpty {
            return (url, nil)
        }
        var logger = Logger(label: "waymark.test-postgres")
        logger.logLevel = .warning
        let cluster = try LocalPostgresCluster.startTemporary(prefix: "waymark-test", logger: logger)
        started = cluster
        atexit { TestDatabase.started?.stop(removeData: true) }
        return (cluster.url, cluster)
    }

    nonisolated(unsafe) private static var started: LocalPostgresCluster?
    // nonisolated(unsafe): written once inside the `cluster` initializer (run exactly once, under
    // Swift's lazy-global lock) and read only by the atexit handler afterwards.

    /// The URL of the test database.
    public static func url() throws -> String { try cluster.get().url }

    /// The private cluster, when the tests started one.
    public static func localCluster() throws -> LocalPostgresCluster? { try cluster.get().cluster }

    /// A schema name no other test uses.
    public static func uniqueSchemaName(_ prefix: String = "t") -> String {
        prefix + "_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    }

    public static var quietLogger: Logger {
        var logger = Logger(label: "waymark.test")
        logger.logLevel = .warning
        return logger
    }

    /// A pool whose search path is a new, empty schema; with `forEventStore`, configured as an event
    /// store's pool must be (`EventStore.poolConfiguration`).
    public static func freshPool(maxConnections: Int = 6, forEventStore: Bool = false) async throws -> (pool: PostgresPool, schema: String) {
        let schema = uniqueSchemaName()
        let configuration =
            forEventStore ? EventStore.poolConfiguration(url: try url(), schema: schema) : PostgresConfiguration(url: try url(), searchPath: [schema])
        let pool = PostgresPool(configuration: configuration, maxConnections: maxConnections, logger: quietLogger)
        try await pool.query("CREATE SCHEMA \(identifier: schema)")
        return (pool, schema)
    }

    /// Another event store on `store`'s tables, with a pool, a wake-up signal and a memory of stream
    /// versions of its own: what another process running Waymark looks like.
    public static func anotherProcess(sharing store: EventStore, maxConnections: Int = 3, knownStreamVersions: Int = 100_000) throws -> EventStore {
        let pool = PostgresPool(configuration: store.pool.configuration, maxConnections: maxConnections, logger: quietLogger)
        return try EventStore(pool: pool, schema: store.schema, logger: quietLogger, knownStreamVersions: knownStreamVersions)
    }

    /// Another event store on `store`'s tables whose sessions wait for the disk at each commit
    /// (`synchronous_commit` on). The tests' private server starts with it off, so that a
    /// transaction turning it off would otherwise change nothing a test can see.
    public static func waitingForTheDisk(sharing store: EventStore, maxConnections: Int = 2) throws -> EventStore {
        var configuration = store.pool.configuration
        configuration.settings["synchronous_commit"] = "on"
        let pool = PostgresPool(configuration: configuration, maxConnections: maxConnections, logger: quietLogger)
        return try EventStore(pool: pool, schema: store.schema, logger: quietLogger)
    }

    /// An event store on a new, migrated schema.
    public static func freshStore(maxConnections: Int = 6, processManager: Bool = true) async throws -> EventStore {
        let (pool, schema) = try await freshPool(maxConnections: maxConnections, forEventStore: true)
        try await Migrator(migrations: try EventStore.migrations(), schema: schema, logger: quietLogger).migrate(pool)
        // The process manager's tables too (`analytics.deadlines` reads them), unless a test needs a schema without them.
        if processManager {
            try await ProcessManagerSchema.migrate(pool, schema: schema, logger: quietLogger)
            try await NotificationSchema.migrate(pool, schema: schema, logger: quietLogger)
            try await ReactionSchema.migrate(pool, schema: schema, logger: quietLogger)
        }
        return try EventStore(pool: pool, schema: schema, logger: quietLogger)
    }
}

/// Polls `condition` until it holds or `timeout` (times `WAYMARK_TEST_TIME_SCALE`) passes; returns
/// whether it held.
public func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + TestTime.scaled(timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
