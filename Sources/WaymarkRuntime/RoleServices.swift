import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkReactions
import WaymarkServer

/// What a role runs: the store and the parts built on it, for one `ServiceGroup`.
public protocol RoleServices: Sendable {
    var store: EventStore { get }
    /// The long-running parts in start order, the store first (a group shuts them down in
    /// reverse, so the store's pool closes last).
    var services: [any Service] { get }
}

extension RoleServices {
    /// One group running `services` until SIGTERM or SIGINT.
    public func serviceGroup(logger: Logger) -> ServiceGroup {
        ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    }
}

/// `projections run`, `rebuild` and the admin commands: the store and a runner of the standard projections.
public struct ProjectionServices: RoleServices {
    public let store: EventStore
    public let runner: ProjectionRunner
    public var services: [any Service] { [store, runner] }
}

/// `waymark simulate`: the store and a client.
public struct ClientServices: RoleServices {
    public let store: EventStore
    public let client: WaymarkClient
    public var services: [any Service] { [store] }
}

/// `waymark demo`: a client and the projections in one process, sharing what they learn of the
/// definitions from the log.
public struct DemoServices: RoleServices {
    public let store: EventStore
    public let client: WaymarkClient
    public let runner: ProjectionRunner
    /// The process manager beside the projections, on the same definitions.
    public let processManager: ProcessManager
    /// Delivers what the process manager and the rules request, when the demo routes notifications.
    public let deliveryWorker: DeliveryWorker?
    /// The rules of `rules.yaml`, beside the process manager.
    public let reactions: ReactionEngine
    /// The migrations applied as the store opened (none when the schema was up to date).
    public let migrationsApplied: [Migration]
    public var services: [any Service] { [store, runner, processManager, reactions] + (deliveryWorker.map { [$0] } ?? []) }
}

/// The database a runtime resolved (a URL, or the private local server's), and the builders of
/// each role's services on it.
public struct RuntimeDatabase: Sendable {
    public let runtime: WaymarkRuntime
    public let url: String

    var configuration: WaymarkConfiguration { runtime.configuration }
    var logger: Logger { runtime.logger }

    /// Applies pending migrations to `schema` (default: `database.schema`): the store's, then the
    /// process manager's and the notifications' (each with its own history table); returns those
    /// applied now, in that order.
    @discardableResult
    public func migrate(schema: String? = nil) async throws -> [Migration] {
        let applied = try await migrateParts(schema: schema)
        return applied.store + applied.processManager + applied.notifications + applied.reactions + applied.server
    }

    /// As `migrate`, the store's, the process manager's, the notifications', the rules engine's and
    /// the HTTP API's migrations applied now apart.
    public func migrateParts(schema: String? = nil) async throws -> (
        store: [Migration], processManager: [Migration], notifications: [Migration], reactions: [Migration], server: [Migration]
    ) {
        let schema = schema ?? configuration.database.schema
        let migrations = try runtime.migrations()
        let pool = PostgresPool(configuration: PostgresConfiguration(url: url, searchPath: [schema]), maxConnections: 1, logger: logger)
        do {
            let store = try await Migrator(migrations: migrations, schema: schema, logger: logger).migrate(pool)
            // The process manager's tables, with their own history, in the same schema.
            let processManager = try await ProcessManagerSchema.migrate(pool, schema: schema, logger: logger)
            let notifications = try await NotificationSchema.migrate(pool, schema: schema, logger: logger)
            let reactions = try await ReactionSchema.migrate(pool, schema: schema, logger: logger)
            let server = try await ServerSchema.migrate(pool, schema: schema, logger: logger)
            await pool.close()
            return (store, processManager, notifications, reactions, server)
        } catch {
            await pool.close()
            throw error
        }
    }

    /// A store with `role`'s pool on `schema` (default: `database.schema`), migrated first when the
    /// role migrates. Close it (or run it as a service) when done.
    public func store(
        for role: Role, schema: String? = nil, poolSize: Int? = nil, announceInterval: Duration = .milliseconds(20)
    ) async throws -> EventStore {
        try await openStore(for: role, schema: schema, poolSize: poolSize, announceInterval: announceInterval).store
    }

    func openStore(
        for role: Role, schema: String? = nil, poolSize: Int? = nil, announceInterval: Duration = .milliseconds(20)
    ) async throws -> (store: EventStore, applied: [Migration]) {
        let schema = schema ?? configuration.database.schema
        let applied = role.migrates ? try await migrate(schema: schema) : []
        let store = try EventStore.connect(
            url: url, schema: schema, maxConnections: poolSize ?? role.poolSize(configuration.database.pool), logger: logger,
            announceInterval: announceInterval)
        if !role.migrates {
            // Said plainly here rather than as `relation "events" does not exist` from the first query.
            do {
                let rows = try await store.pool.query("SELECT to_regclass(\(schema + ".schema_migrations")) IS NOT NULL")
                guard try rows[0].decode(Bool.self, at: 0) else { throw RuntimeError.notMigrated(schema) }
            } catch {
                await store.close()
                throw error
            }
        }
        return (store, applied)
    }

    /// Runs `body` with what `make` builds from a store of `role` (and the migrations applied as it
    /// opened), and closes the store afterwards, also when `body` throws; closes are awaited, never
    /// left to a detached task.
    public func withRole<S: RoleServices, T>(
        _ role: Role, poolSize: Int? = nil, _ make: (EventStore, [Migration]) async throws -> S, _ body: (S) async throws -> T
    ) async throws -> T {
        let (store, applied) = try await openStore(for: role, poolSize: poolSize)
        do {
            let services = try await make(store, applied)
            let result = try await body(services)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }

    /// `projections run` (`.projections`, migrating) or the admin commands (`.projectionsAdmin`, no DDL).
    public func withProjections<T>(_ role: Role = .projections, _ body: (ProjectionServices) async throws -> T) async throws -> T {
        let catalog = try runtime.catalog()
        return try await withRole(role, { store, _ in try ProjectionServices(store: store, runner: runner(store, DefinitionLibrary(catalog))) }, body)
    }

    /// The simulator's client; `poolSize` when it needs more connections than `database.pool.client`.
    public func withClient<T>(poolSize: Int? = nil, _ body: (ClientServices) async throws -> T) async throws -> T {
        let catalog = try runtime.catalog()
        return try await withRole(.simulate, poolSize: poolSize, { store, _ in ClientServices(store: store, client: client(store, catalog)) }, body)
    }

    /// The demo's client and projections.
    /// `notifications`, when given, adds a delivery worker with those settings (the demo routes
    /// every role to a receiver of its own) and the templates of `definitions.directory`.
    public func withDemo<T>(notifications: NotificationSettings? = nil, _ body: (DemoServices) async throws -> T) async throws -> T {
        let catalog = try runtime.catalog()
        let settings = try runtime.processManagerSettings(catalog: catalog)
        let rules = try runtime.rules(catalog: catalog, settings: settings)
        let templates = try notifications.map { _ in try runtime.notificationTemplates() }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: WebhookSender.clientConfiguration())
        do {
            let result = try await withRole(
                .demo,
                { store, applied in
                    let client = client(store, catalog)
                    let worker = try notifications.map { notifications in
                        try DeliveryWorker(
                            store: store, settings: notifications, templates: templates!, httpClient: http, worker: "demo", logger: logger)
                    }
                    return DemoServices(
                        store: store, client: client, runner: try runner(store, client.definitions),
                        processManager: try ProcessManager(store: store, definitions: client.definitions, settings: settings, logger: logger),
                        deliveryWorker: worker,
                        reactions: try ReactionEngine.configured(
                            store: store, rules: rules, definitions: client.definitions, settings: settings, instance: "demo", logger: logger),
                        migrationsApplied: applied)
                }, body)
            try await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func client(_ store: EventStore, _ catalog: JourneyCatalog) -> WaymarkClient {
        WaymarkClient(store: store, catalog: catalog, configuration: runtime.clientConfiguration, logger: logger)
    }

    func runner(_ store: EventStore, _ definitions: DefinitionLibrary) throws -> ProjectionRunner {
        try ProjectionRunner(
            store: store, projections: standardProjections(definitions: definitions), analyticsSchema: configuration.projections.analyticsSchema,
            batchSize: configuration.projections.batchSize, logger: logger)
    }
}

/// A runtime that cannot start its role.
public struct RuntimeError: WaymarkError, Equatable {
    /// Stable across releases; new codes may be added.
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case schemaNotMigrated = "schema_not_migrated"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The schema has never been migrated; a role that runs no DDL cannot do it.
        public static let schemaNotMigrated = Code(.schemaNotMigrated)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        /// The database is not ready for this role yet.
        public var kind: ErrorKind { .unavailable }
    }

    public var code: Code
    public var message: String

    static func notMigrated(_ schema: String) -> RuntimeError {
        RuntimeError(
            code: .schemaNotMigrated,
            message: "schema \(schema) has not been migrated: run `waymark migrate` (or `waymark projections run`) against it first")
    }
}
