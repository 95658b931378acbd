import ArgumentParser
import Foundation
import Logging
import WaymarkBench
import WaymarkErrors
import WaymarkEventStore
import WaymarkPostgres
import WaymarkRuntime

struct WaymarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waymark",
        abstract: "Waymark: customer journeys as an immutable event log on PostgreSQL.",
        discussion:
            "Settings come from a configuration file (--config, $WAYMARK_CONFIG or ./waymark.yaml), then WAYMARK_… environment variables, then options; see waymark.example.yaml and docs/configuration.md.",
        subcommands: [
            Migrate.self, Serve.self, Keys.self, Demo.self, Simulate.self, Projections.self, ProcessManagerCommand.self, NotificationsCommand.self,
            Calendars.self, Config.self, Bench.self, Local.self,
        ])
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

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations (each in a transaction, checksummed); the ones shipped with the binary unless database.migrations_dir names others."
    )

    @OptionGroup var options: RuntimeOptions

    @Option(help: "Folder of NNNN_name.sql migrations (database.migrations_dir; default: $WAYMARK_MIGRATIONS_DIR, else the shipped ones).")
    var migrations: String?

    var overrides: [ConfigurationOverride] {
        migrations.map { [ConfigurationOverride(key: "database.migrations_dir", value: $0, option: "--migrations")] } ?? []
    }

    // Checked before any server starts: a missing folder is the user's typo, not PostgreSQL's.
    func validate() throws { try checkOptions(overrides) }

    func run() async throws {
        let runtime = try options.runtime(overrides)
        let schema = runtime.configuration.database.schema
        try await runtime.withDatabase { database in
            let applied = try await database.migrateParts()
            let parts: [(String, [Migration])] = [
                ("", applied.store), ("the process manager's ", applied.processManager), ("the notifications' ", applied.notifications),
                ("the rules engine's ", applied.reactions), ("the HTTP API's ", applied.server),
            ]
            if parts.allSatisfy({ $0.1.isEmpty }) { print("schema \(schema) is up to date") }
            for (part, migrations) in parts where !migrations.isEmpty {
                print("applied \(part)\(migrations.map(\.fileName).joined(separator: ", ")) to schema \(schema)")
            }
        }
    }
}

/// `waymark config show`: the configuration in effect and where each value came from.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The configuration in effect (file, environment, options); see waymark.example.yaml.", subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each key with its value and, where it is not the default, the file line, variable or option that set it.")
        @OptionGroup var options: RuntimeOptions
        @OptionGroup var definitions: DefinitionOptions

        func run() throws {
            print(try options.configuration(definitions.overrides).summary)
        }
    }
}

/// The private local server of the demo and the benchmarks, in `database.local_data_dir`.
struct Local: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find or stop the private local PostgreSQL server (for example one `demo --keep-running` left).",
        subcommands: [Status.self, Stop.self])

    struct Place: ParsableArguments {
        @Option(name: .customLong("config"), help: "Configuration file (default: $WAYMARK_CONFIG, else ./waymark.yaml if there is one).")
        var configFile: String?

        @Option(name: .customLong("data-dir"), help: "Folder of the private local server (database.local_data_dir; default: .waymark/postgres).")
        var dataDirectory: String?

        var overrides: [ConfigurationOverride] {
            dataDirectory.map { [ConfigurationOverride(key: "database.local_data_dir", value: $0, option: "--data-dir")] } ?? []
        }

        /// The server running there, or nil after saying that none does.
        func runningCluster() throws -> LocalPostgresCluster? {
            let directory = try WaymarkConfiguration.load(file: configFile, overrides: overrides).database.localDataDirectory
            let cluster = try LocalPostgresCluster.running(dataDirectory: directory)
            if cluster == nil { print("no private PostgreSQL server runs in \(directory)") }
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

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
