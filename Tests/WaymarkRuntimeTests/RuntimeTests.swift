import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkRuntime
import WaymarkTesting

@Suite("Runtime")
struct RuntimeTests {
    /// A runtime on the test database, schema `schema`, with the repository's definitions.
    func runtime(schema: String) throws -> WaymarkRuntime {
        var configuration = WaymarkConfiguration()
        configuration.database.url = try TestDatabase.url()
        configuration.database.schema = schema
        configuration.definitions.directory =
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config").path
        configuration.projections.analyticsSchema = schema + "_an"
        return WaymarkRuntime(configuration: configuration, logger: TestDatabase.quietLogger)
    }

    /// Whether `schema` has been migrated (has its migrations table).
    func migrated(_ schema: String) async throws -> Bool {
        let pool = PostgresPool(configuration: PostgresConfiguration(url: try TestDatabase.url()), maxConnections: 1, logger: TestDatabase.quietLogger)
        let rows = try await pool.query("SELECT to_regclass(\(schema + ".schema_migrations")) IS NOT NULL")
        await pool.close()
        return try rows[0].decode(Bool.self, at: 0)
    }

    @Test("the admin role runs no DDL; the projections role migrates first and uses the configured analytics schema")
    func roles() async throws {
        let schema = TestDatabase.uniqueSchemaName("rt")
        let runtime = try runtime(schema: schema)
        try await runtime.withDatabase { database in
            await #expect(throws: RuntimeError.self) {
                try await database.withProjections(.projectionsAdmin) { _ in }
            }
            #expect(try await migrated(schema) == false)
            try await database.withProjections(.projections) { services in
                #expect(services.runner.projections.map(\.name).contains("journeys"))
                #expect(services.runner.analyticsSchema == schema + "_an")
                let status = try await services.runner.status()
                #expect(status.isEmpty)
            }
            #expect(try await migrated(schema))
            try await database.withProjections(.projectionsAdmin) { services in #expect(services.store.schema == schema) }
        }
    }

    @Test("the demo's client and runner share one store and what they learn of the definitions")
    func demoServices() async throws {
        let runtime = try runtime(schema: TestDatabase.uniqueSchemaName("rtd"))
        try await runtime.withDatabase { database in
            try await database.withDemo { services in
                #expect(services.migrationsApplied.first?.fileName == "0001_event_store.sql")
                #expect(services.client.store === services.store)
                #expect(services.runner.store === services.store)
                #expect(services.client.catalog.current("new-business") != nil)
                let journeys = services.runner.projections.first { $0.name == "journeys" } as? JourneysProjection
                #expect(journeys?.definitions === services.client.definitions)
            }
        }
    }

    @Test("a definitions folder that is not one is named with its key and origin")
    func badDefinitions() throws {
        var configuration = WaymarkConfiguration()
        configuration.definitions.directory = "/nonexistent"
        configuration.origins["definitions.directory"] = "waymark.yaml:3"
        #expect {
            _ = try WaymarkRuntime(configuration: configuration).catalog()
        } throws: { error in
            "\(error)".hasPrefix("invalid_value: waymark.yaml:3: definitions.directory: /nonexistent")
        }
    }
}
