import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// The database the tests run on: `$WAYMARK_TEST_DATABASE_URL` when set, otherwise a private cluster
/// that the test process starts once (initdb into a temporary folder, loopback only) and stops when
/// it exits. Every test gets a schema of its own.
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

    /// A pool whose search path is a new, empty schema.
    public static func freshPool(maxConnections: Int = 6) async throws -> (pool: PostgresPool, schema: String) {
        let schema = uniqueSchemaName()
        let pool = PostgresPool(
            configuration: PostgresConfiguration(url: try url(), searchPath: [schema]), maxConnections: maxConnections, logger: quietLogger)
        try await pool.query("CREATE SCHEMA \(PostgresIdentifier.quote(schema))")
        return (pool, schema)
    }

    /// Another event store on `store`'s tables, with a pool, a wake-up signal and a memory of stream
    /// versions of its own: what another process running Waymark looks like.
    public static func anotherProcess(sharing store: EventStore, maxConnections: Int = 3, knownStreamVersions: Int = 100_000) throws -> EventStore {
        let pool = PostgresPool(configuration: store.pool.configuration, maxConnections: maxConnections, logger: quietLogger)
        return try EventStore(pool: pool, schema: store.schema, logger: quietLogger, knownStreamVersions: knownStreamVersions)
    }

    /// An event store on a new, migrated schema.
    public static func freshStore(maxConnections: Int = 6) async throws -> EventStore {
        let (pool, schema) = try await freshPool(maxConnections: maxConnections)
        try await Migrator(migrations: try Migrator.load(directory: Migrator.defaultDirectory()), schema: schema, logger: quietLogger).migrate(pool)
        return try EventStore(pool: pool, schema: schema, logger: quietLogger)
    }
}
