import Foundation
import Logging
import WaymarkPostgres

/// The tables a module keeps in the store's schema beside the store's own, with a migration
/// history of their own (`process_manager_migrations`, `notification_migrations`).
public struct ModuleSchema: Sendable {
    /// How errors name the module ("the process manager").
    public let module: String
    public let history: String
    public let directory: URL

    public init(module: String, history: String, directory: URL) {
        self.module = module
        self.history = history
        self.directory = directory
    }

    /// The migrations folder shipped as `bundle`'s resource.
    public static func migrationsDirectory(in bundle: Bundle) -> URL {
        bundle.resourceURL?.appendingPathComponent("Migrations") ?? bundle.bundleURL.appendingPathComponent("Migrations")
    }

    public func migrations() throws -> [Migration] { try Migrator.load(directory: directory) }

    /// Applies the module's pending migrations to `schema`; returns those applied now.
    @discardableResult
    public func migrate(_ pool: PostgresPool, schema: String, logger: Logger) async throws -> [Migration] {
        try await Migrator(migrations: try migrations(), schema: schema, history: history, logger: logger).migrate(pool)
    }

    /// Why `store`'s schema cannot serve the module yet: its pending migrations, said plainly
    /// rather than as a missing relation from the first query; nil when every one is applied.
    public func missing(in store: EventStore, logger: Logger) async throws -> String? {
        let status = try await Migrator(migrations: try migrations(), schema: store.schema, history: history, logger: logger).status(store.pool)
        let pending = status.filter { $0.appliedAt == nil }.map(\.migration.fileName)
        guard !pending.isEmpty else { return nil }
        return "schema \(store.schema) lacks \(module)'s tables (\(pending.joined(separator: ", ")) not applied): run `waymark migrate` against it first"
    }
}
