import ArgumentParser
import Foundation
import Logging

/// Log levels by name; anything else is refused with the list.
public enum LogLevelOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case trace, debug, info, notice, warning, error, critical
}

/// The options every command that reaches the database shares: the configuration file and the
/// keys most often given on the command line, which override the file and the environment.
public struct RuntimeOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("config"), help: "Configuration file (default: $WAYMARK_CONFIG, else ./waymark.yaml if there is one).")
    public var configFile: String?

    @Option(
        name: .customLong("database-url"),
        help: "PostgreSQL URL (database.url; default: $WAYMARK_DATABASE_URL, else a private local server).")
    public var databaseURL: String?

    @Option(help: "Schema holding the event store (database.schema; default: waymark).")
    public var schema: String?

    @Option(
        name: .customLong("data-dir"),
        help: "Folder of the private local server used when no URL is given (database.local_data_dir; default: .waymark/postgres).")
    public var dataDirectory: String?

    @Option(name: .customLong("log-level"), help: "How much to log (logging.level; default: info).")
    public var logLevel: LogLevelOption?

    public init() {}

    public var overrides: [ConfigurationOverride] {
        [
            databaseURL.map { ConfigurationOverride(key: "database.url", value: $0, option: "--database-url") },
            schema.map { ConfigurationOverride(key: "database.schema", value: $0, option: "--schema") },
            dataDirectory.map { ConfigurationOverride(key: "database.local_data_dir", value: $0, option: "--data-dir") },
            logLevel.map { ConfigurationOverride(key: "logging.level", value: $0.rawValue, option: "--log-level") },
        ].compactMap { $0 }
    }

    /// Refuses a bad option value before anything runs (the file and environment are read in `run`).
    public func validate() throws { try checkOptions(overrides) }

    /// The configuration from the file, the environment and these options (and `extra` ones).
    public func configuration(_ extra: [ConfigurationOverride] = []) throws -> WaymarkConfiguration {
        try WaymarkConfiguration.load(file: configFile, overrides: overrides + extra)
    }

    /// A runtime on `configuration(extra)`.
    public func runtime(_ extra: [ConfigurationOverride] = []) throws -> WaymarkRuntime {
        WaymarkRuntime(configuration: try configuration(extra))
    }
}

/// Where the journey definitions are (definitions.directory).
public struct DefinitionOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("definitions"),
        help: "Folder with calendars.yaml, consent.yaml and journeys/*.yaml (definitions.directory; default: $WAYMARK_CONFIG_DIR, else ./config).")
    public var directory: String?

    public init() {}

    public var overrides: [ConfigurationOverride] {
        directory.map { [ConfigurationOverride(key: "definitions.directory", value: $0, option: "--definitions")] } ?? []
    }

    public func validate() throws { try checkOptions(overrides) }
}

/// Checks option values with the same rules as the file's, as a usage error naming the option.
public func checkOptions(_ overrides: [ConfigurationOverride]) throws {
    var configuration = WaymarkConfiguration()
    for override in overrides {
        guard let key = ConfigurationKey.named(override.key) else { continue }
        do {
            try configuration.set(key, override.value, source: override.option, relativeTo: nil)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
