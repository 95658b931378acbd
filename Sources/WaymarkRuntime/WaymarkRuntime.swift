import Foundation
import Logging
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections

/// What a process is run as; it decides whether the schema is migrated and which pool it gets.
public enum Role: String, Sendable, CaseIterable {
    /// `waymark migrate`: applies the migrations and nothing else.
    case migrate
    /// `projections run` and `projections rebuild`: runs the projections (and their DDL).
    case projections
    /// `projections status`, `retry`, `skip`: reads and updates the registry, runs no DDL, so it
    /// works for a role that may not create tables.
    case projectionsAdmin = "projections-admin"
    /// `waymark demo`: the client and the projections in one process.
    case demo
    /// `waymark simulate`: the client.
    case simulate
    /// `waymark bench …`: a throwaway schema of its own.
    case bench
    /// `process-manager run` and `rebuild`: the deadline subscription and firing.
    case processManager = "process-manager"
    /// `process-manager status`: reads the process manager's tables, runs no DDL.
    case processManagerAdmin = "process-manager-admin"
    /// `notifications run`: the outbox feed and the delivery worker.
    case notifications
    /// `notifications status`: reads the outbox, runs no DDL.
    case notificationsAdmin = "notifications-admin"
    /// `waymark serve`: the HTTP API.
    case serve
    /// `waymark keys …`: the API's keys.
    case keys

    /// Whether the role brings the schema up to date before it starts.
    public var migrates: Bool { self != .projectionsAdmin && self != .processManagerAdmin && self != .notificationsAdmin }

    /// The role's pool size as configured.
    public func poolSize(_ pool: WaymarkConfiguration.Pool) -> Int {
        switch self {
        case .migrate: 1
        case .projections: pool.projections
        case .projectionsAdmin: pool.admin
        case .demo, .simulate, .bench: pool.client
        case .processManager, .processManagerAdmin: pool.processManager
        case .notifications, .notificationsAdmin: pool.notifications
        case .serve: pool.server
        case .keys: pool.admin
        }
    }
}

/// The composition root: builds the stores, clients and runners of each role from one
/// `WaymarkConfiguration`. Use it through `withDatabase`, which also starts (and stops) the
/// private local server when no URL is configured.
public struct WaymarkRuntime: Sendable {
    public let configuration: WaymarkConfiguration
    public let logger: Logger

    /// A runtime logging through `logger`, else under the label `waymark` at `logging.level`.
    public init(configuration: WaymarkConfiguration, logger: Logger? = nil) {
        self.configuration = configuration
        self.logger =
            logger
            ?? {
                var logger = Logger(label: "waymark")
                logger.logLevel = configuration.logging.level
                return logger
            }()
    }

    /// Runs `body` on the configured database, or on the private local server in
    /// `database.local_data_dir`, which it starts (or joins, when another process started it) and,
    /// unless `keepLocalServer` or another process still uses it, stops afterwards (also when this
    /// process is killed).
    public func withDatabase<T>(keepLocalServer: Bool = false, _ body: (RuntimeDatabase) async throws -> T) async throws -> T {
        if let url = configuration.database.url { return try await body(RuntimeDatabase(runtime: self, url: url)) }
        let cluster: LocalPostgresCluster
        do {
            cluster = try LocalPostgresCluster.start(
                dataDirectory: configuration.database.localDataDirectory, settings: LocalPostgresCluster.durableSettings, logger: logger)
        } catch let error as PostgresError where error.code == PostgresError.invalidArgument {
            throw ConfigurationError(
                .invalidValue, key: "database.local_data_dir", source: configuration.origins["database.local_data_dir"] ?? "",
                message: "\(configuration.database.localDataDirectory): \(error.message)")
        }
        if keepLocalServer { try cluster.keepRunning() } else { try cluster.stopWhenThisProcessEnds() }
        // Stops the server only when no other process uses it and it is not kept running.
        defer { cluster.stop() }
        return try await body(RuntimeDatabase(runtime: self, url: cluster.url))
    }

    /// The journey definitions of `definitions.directory`; a malformed file is named with the problem.
    public func catalog() throws -> JourneyCatalog {
        let directory = URL(fileURLWithPath: configuration.definitions.directory)
        do {
            return JourneyCatalog(try DefinitionLoader.load(directory: directory))
        } catch let error as DefinitionError {
            throw ConfigurationError(
                .invalidValue, key: "definitions.directory", source: configuration.origins["definitions.directory"] ?? "",
                message: "\(directory.path): \(error)")
        }
    }

    /// The process manager's settings: `process-manager.yaml` of `definitions.directory`, checked
    /// against `catalog`; a malformed file is named with the problem, like the definitions.
    public func processManagerSettings(catalog: JourneyCatalog) throws -> ProcessManagerSettings {
        let directory = URL(fileURLWithPath: configuration.definitions.directory)
        do {
            return try ProcessManagerSettings.load(directory: directory, catalog: catalog)
        } catch let error as DefinitionError {
            throw ConfigurationError(
                .invalidValue, key: "definitions.directory", source: configuration.origins["definitions.directory"] ?? "",
                message: "\(directory.path): \(error)")
        }
    }

    /// The client's settings from the `client` section.
    public var clientConfiguration: ClientConfiguration {
        ClientConfiguration(
            maxAttempts: configuration.client.maxAttempts, commandTimeout: configuration.client.commandTimeout,
            cachedStreams: configuration.client.cachedStreams)
    }

    /// The migrations to apply: `database.migrations_dir`, else the ones shipped with the event store.
    public func migrations() throws -> [Migration] {
        try Migrator.load(directory: configuration.database.migrationsDirectory.map { URL(fileURLWithPath: $0) } ?? EventStore.migrationsDirectory)
    }
}
