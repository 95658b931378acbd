import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// The process manager's tables: migrated by the module, into the store's schema, with a history
/// of their own (`process_manager_migrations`) beside the store's.
public enum ProcessManagerSchema {
    public static let history = "process_manager_migrations"

    /// The folder of the module's migrations, shipped as its resource.
    public static var migrationsDirectory: URL {
        Bundle.module.resourceURL?.appendingPathComponent("Migrations") ?? Bundle.module.bundleURL.appendingPathComponent("Migrations")
    }

    public static func migrations() throws -> [Migration] { try Migrator.load(directory: migrationsDirectory) }

    /// Applies the module's pending migrations to `schema`; returns those applied now.
    @discardableResult
    public static func migrate(_ pool: PostgresPool, schema: String, logger: Logger) async throws -> [Migration] {
        try await Migrator(migrations: try migrations(), schema: schema, history: history, logger: logger).migrate(pool)
    }

    /// Throws `ProcessManagerError.notMigrated` unless every migration of the module is applied to
    /// the store's schema: said plainly rather than as a missing relation from the first query.
    public static func requireMigrated(_ store: EventStore, logger: Logger) async throws {
        let status = try await Migrator(migrations: try migrations(), schema: store.schema, history: history, logger: logger).status(store.pool)
        let pending = status.filter { $0.appliedAt == nil }.map(\.migration.fileName)
        guard pending.isEmpty else {
            throw ProcessManagerError(
                .notMigrated,
                "schema \(store.schema) lacks the process manager's tables (\(pending.joined(separator: ", ")) not applied): run `waymark migrate` against it first"
            )
        }
    }
}
