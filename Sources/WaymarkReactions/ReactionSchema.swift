import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// The rules engine's working tables: migrated by the module into the store's schema, with its own
/// history (`reaction_migrations`).
public enum ReactionSchema {
    public static let history = "reaction_migrations"

    static let schema = ModuleSchema(module: "the rules engine", history: history, directory: ModuleSchema.migrationsDirectory(in: Bundle.module))

    public static func migrations() throws -> [Migration] { try schema.migrations() }

    @discardableResult
    public static func migrate(_ pool: PostgresPool, schema: String, logger: Logger) async throws -> [Migration] {
        try await Self.schema.migrate(pool, schema: schema, logger: logger)
    }

    /// Throws `ReactionError.notMigrated` unless the module's every migration is applied.
    public static func requireMigrated(_ store: EventStore, logger: Logger) async throws {
        if let missing = try await schema.missing(in: store, logger: logger) { throw ReactionError(.notMigrated, missing) }
    }
}
