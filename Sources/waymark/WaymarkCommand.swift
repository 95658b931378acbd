import ArgumentParser
import Foundation
import Logging
import WaymarkErrors
import WaymarkEventStore
import WaymarkPostgres

struct WaymarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waymark",
        abstract: "Waymark: customer journeys as an immutable event log on PostgreSQL.",
        subcommands: [Migrate.self, Demo.self, Simulate.self, Projections.self, Calendars.self, Bench.self, Local.self])
}

/// A failure the CLI reports in one line that names the option or the thing at fault.
struct CLIError: WaymarkError {
    struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidArgument = "invalid_argument"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An option or argument that names what cannot be used (a folder, a calendar).
        static let invalidArgument = Code(.invalidArgument)

        static var allCases: [Code] { Base.allCases.map(Code.init) }
        var name: String { base.rawValue }
        var kind: ErrorKind { .invalidInput }
    }

    let code = Code.invalidArgument
    var message: String
    init(_ message: String) { self.message = message }
}

/// Log levels by name; anything else is refused with the list.
enum LogLevelOption: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}

/// Where the database is: a URL, or else a private PostgreSQL started in a project-local folder.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (default: $WAYMARK_DATABASE_URL, else a private local server).")
    var databaseURL: String?

    @Option(help: "Schema holding the event store.")
    var schema: String = "waymark"

    @Option(name: .customLong("data-dir"), help: "Folder of the private local server used when no URL is given.")
    var dataDirectory: String = ".waymark/postgres"

    @Option(name: .customLong("log-level"), help: "How much to log.")
    var logLevel: LogLevelOption = .info

    var logger: Logger {
        var logger = Logger(label: "waymark")
        logger.logLevel = logLevel.level
        return logger
    }

    /// The URL given by option or environment, if any.
    var givenURL: String? {
        let url = databaseURL ?? ProcessInfo.processInfo.environment["WAYMARK_DATABASE_URL"]
        return url?.isEmpty == false ? url : nil
    }

    func validate() throws {
        do {
            try PostgresIdentifier.checkSchemaName(schema)
        } catch let error as PostgresError {
            throw ValidationError("--schema: \(error.message)")
        }
        if let url = givenURL, !Self.looksLikeConnectionString(url) {
            let source = databaseURL != nil ? "--database-url" : "WAYMARK_DATABASE_URL"
            throw ValidationError(
                "\(source) '\(PostgresConnection.redactedURL(url))' is neither a PostgreSQL URL (postgresql://user@host:port/database) nor a key=value connection string (host=… dbname=…)"
            )
        }
    }

    /// A libpq connection URI or a key=value connection string; anything else libpq would take as
    /// a database name on the default Unix socket, which is never what the user meant.
    static func looksLikeConnectionString(_ text: String) -> Bool {
        if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") { return true }
        let pairs = text.split(separator: " ", omittingEmptySubsequences: true)
        return !pairs.isEmpty && pairs.allSatisfy { pair in pair.contains("=") && !pair.hasPrefix("=") }
    }

    /// Resolves the URL, starting the private server when needed. Returns it and the server to stop.
    func resolve(settings: [String: String] = LocalPostgresCluster.durableSettings) throws -> (url: String, cluster: LocalPostgresCluster?) {
        if let url = givenURL { return (url, nil) }
        do {
            let cluster = try LocalPostgresCluster.start(dataDirectory: dataDirectory, settings: settings, logger: logger)
            return (cluster.url, cluster)
        } catch let error as PostgresError where error.code == PostgresError.invalidArgument {
            throw CLIError("--data-dir \(dataDirectory): \(error.message)")
        }
    }
}

/// Runs `body` against the resolved database, stopping a private server this run started.
func withDatabase<T>(_ options: DatabaseOptions, keepRunning: Bool = false, _ body: (String) async throws -> T) async throws -> T {
    let (url, cluster) = try options.resolve()
    // A server this run stops at its end also stops if the run is killed.
    if !keepRunning { try cluster?.stopWhenThisProcessEnds() }
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

    func validate() throws {
        // Checked before any server starts: a missing folder is the user's typo, not PostgreSQL's.
        if let migrations {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: migrations, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--migrations \(migrations): no such folder")
            }
        }
    }

    func run() async throws {
        try await withDatabase(database) { url in
            let applied = try await migrate(url: url, schema: database.schema, logger: database.logger, directory: migrations)
            print(
                applied.isEmpty
                    ? "schema \(database.schema) is up to date" : "applied \(applied.map(\.fileName).joined(separator: ", ")) to schema \(database.schema)")
        }
    }
}

/// The private local server of the demo and the benchmarks, in `--data-dir`.
struct Local: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find or stop the private local PostgreSQL server (for example one `demo --keep-running` left).",
        subcommands: [Status.self, Stop.self])

    struct Place: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "Folder of the private local server.")
        var dataDirectory: String = ".waymark/postgres"

        /// The server running there, or nil after saying that none does.
        func runningCluster() throws -> LocalPostgresCluster? {
            let cluster = try LocalPostgresCluster.running(dataDirectory: dataDirectory)
            if cluster == nil { print("no private PostgreSQL server runs in \(dataDirectory)") }
            return cluster
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the server runs, where, and its URL; exit 3 when it does not run.")
        @OptionGroup var place: Place

        func run() throws {
            guard let cluster = try place.runningCluster() else { throw ExitCode(3) }
            print("running on 127.0.0.1:\(cluster.port), data in \(cluster.dataDirectory)")
            print("url: \(cluster.url)")
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the server (a fast shutdown: open sessions are disconnected).")
        @OptionGroup var place: Place

        func run() throws {
            guard let cluster = try place.runningCluster() else { return }
            cluster.stop()
            print("stopped the private PostgreSQL server on 127.0.0.1:\(cluster.port)")
        }
    }
}
