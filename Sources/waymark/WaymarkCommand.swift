import ArgumentParser
import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

@main
struct WaymarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waymark",
        abstract: "Waymark: customer journeys as an immutable event log on PostgreSQL.",
        subcommands: [Migrate.self, Demo.self, Bench.self])
}

/// Where the database is: a URL, or else a private PostgreSQL started in a project-local folder.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (default: $WAYMARK_DATABASE_URL, else a private local server).")
    var databaseURL: String?

    @Option(help: "Schema holding the event store.")
    var schema: String = "waymark"

    @Option(name: .customLong("data-dir"), help: "Folder of the private local server used when no URL is given.")
    var dataDirectory: String = ".waymark/postgres"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    var logger: Logger {
        var logger = Logger(label: "waymark")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }

    /// Resolves the URL, starting the private server when needed. Returns it and the server to stop.
    func resolve(settings: [String: String] = LocalPostgresCluster.durableSettings) throws -> (url: String, cluster: LocalPostgresCluster?) {
        do {
            try PostgresIdentifier.checkSchemaName(schema)
        } catch let error as PostgresError {
            throw ValidationError("--schema: \(error.message)")
        }
        if let url = databaseURL ?? ProcessInfo.processInfo.environment["WAYMARK_DATABASE_URL"], !url.isEmpty {
            return (url, nil)
        }
        let cluster = try LocalPostgresCluster.start(dataDirectory: dataDirectory, settings: settings, logger: logger)
        return (cluster.url, cluster)
    }
}

/// Runs `body` against the resolved database, stopping a private server this run started.
func withDatabase<T>(_ options: DatabaseOptions, keepRunning: Bool = false, _ body: (String) async throws -> T) async throws -> T {
    let (url, cluster) = try options.resolve()
    defer { if !keepRunning { cluster?.stop() } }
    return try await body(url)
}

func migrate(url: String, schema: String, logger: Logger, directory: String?) async throws -> [Migration] {
    let pool = PostgresPool(configuration: PostgresConfiguration(url: url, searchPath: [schema]), maxConnections: 1, logger: logger)
    defer { Task { await pool.close() } }
    let folder = directory.map { URL(fileURLWithPath: $0) } ?? Migrator.defaultDirectory()
    return try await Migrator(migrations: try Migrator.load(directory: folder), schema: schema, logger: logger).migrate(pool)
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending migrations from Migrations/ (each in a transaction, checksummed).")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Folder of NNNN_name.sql migrations (default: $WAYMARK_MIGRATIONS_DIR or ./Migrations).")
    var migrations: String?

    func run() async throws {
        try await withDatabase(database) { url in
            let applied = try await migrate(url: url, schema: database.schema, logger: database.logger, directory: migrations)
            print(
                applied.isEmpty
                    ? "schema \(database.schema) is up to date" : "applied \(applied.map(\.fileName).joined(separator: ", ")) to schema \(database.schema)")
        }
    }
}
