import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// The process manager's tables: migrated by the module, into the store's schema, with a history
/// of their own (`process_manager_migrations`) beside the store's.
public enum ProcessManagerSchema {
    public static let history = "process_manager_migrations"

    static let schema = ModuleSchema(module: "the process manager", history: history, directory: migrationsDirectory)

    /// The folder of the module's migrations, shipped as its resource.
    public static var migrationsDirectory: URL { ModuleSchema.migrationsDirectory(in: Bundle.module) }

    public static func migrations() throws -> [Migration] { try schema.migrations() }

    /// Applies the module's pending migrations to `schema`; returns those applied now.
    @discardableResult
    public static func migrate(_ pool: PostgresPool, schema: String, logger: Logger) async throws -> [Migration] {
        try await Self.schema.migrate(pool, schema: schema, logger: logger)
    }

    /// Throws `ProcessManagerError.notMigrated` unless every migration of the module is applied to
    /// the store's schema.
    public static func requireMigrated(_ store: EventStore, logger: Logger) async throws {
        if let missing = try await schema.missing(in: store, logger: logger) { throw ProcessManagerError(.notMigrated, missing) }
    }
}
