import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// The HTTP API's tables (its keys): migrated by the module into the store's schema, with its own
/// history (`server_migrations`).
public enum ServerSchema {
    public static let history = "server_migrations"

    static let schema = ModuleSchema(module: "the HTTP API", history: history, directory: ModuleSchema.migrationsDirectory(in: Bundle.module))

    public static func migrations() throws -> [Migration] { try schema.migrations() }

    @discardableResult
    public static func migrate(_ pool: PostgresPool, schema: String, logger: Logger) async throws -> [Migration] {
        try await Self.schema.migrate(pool, schema: schema, logger: logger)
    }

    /// Throws `ApiError.notMigrated` unless the module's every migration is applied.
    public static func requireMigrated(_ store: EventStore, logger: Logger) async throws {
        if let missing = try await schema.missing(in: store, logger: logger) { throw ApiError(.notMigrated, missing) }
    }
}
