import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

/// The repository's definitions folder.
private let definitionsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config").path

/// A fresh folder holding a `waymark.yaml` with `text`: a `waymark` started there reads it with no options.
private func folder(withConfiguration text: String) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-config-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try text.write(to: folder.appendingPathComponent("waymark.yaml"), atomically: true, encoding: .utf8)
    return folder
}

private func configuration(url: String, schema: String, analytics: String) -> String {
    """
    database:
      url: "\(url)"
      schema: \(schema)
    definitions:
      directory: \(definitionsFolder)
    projections:
      analytics_schema: \(analytics)
      batch_size: 500
    logging:
      level: warning
    """
}

@Suite("waymark from a configuration file")
struct ConfigurationFileTests {
    @Test("migrate finds the shipped migrations from any working directory")
    func migrateElsewhere() async throws {
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("cwd")
        let elsewhere = FileManager.default.temporaryDirectory
        let (status, output) = try await waymark(["migrate", "--database-url", url, "--schema", schema], directory: elsewhere)
        #expect(status == 0, "\(output)")
        #expect(output.contains("applied 0001_event_store.sql"), "\(output)")
        // The store's last migration ends the list: every one was found.
        let last = try #require(try EventStore.migrations().last)
        #expect(output.contains("\(last.fileName) to schema \(schema)"), "\(output)")
    }

    @Test("projections run starts from waymark.yaml alone, and projections status works for a role that may read but not create tables")
    func projectionsFromFile() async throws {
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("cfg")
        let analytics = schema + "_an"
        let folder = try folder(withConfiguration: configuration(url: url, schema: schema, analytics: analytics))
        defer { try? FileManager.default.removeItem(at: folder) }
        let (simulated, output) = try await waymark(["simulate", "--journeys", "30", "--seed", "4", "--until", "2026-06-01T00:00:00Z"], directory: folder)
        #expect(simulated == 0, "\(output)")

        let runner = try startWaymark(["projections", "run"], directory: folder)
        try await whileRunning(runner) {
            let pool = PostgresPool(configuration: PostgresConfiguration(url: url, searchPath: [schema]), maxConnections: 2, logger: TestDatabase.quietLogger)
            func journeys() async throws -> Int {
                let exists = try await pool.query("SELECT to_regclass(\(analytics + ".journeys")) IS NOT NULL")[0].decode(Bool.self, at: 0)
                guard exists else { return 0 }
                return try await pool.query("SELECT count(*) FROM \(identifier: analytics).journeys")[0].decode(Int.self, at: 0)
            }
            try await eventually("the journeys view shows the 30 journeys", timeout: .seconds(60), observing: { try await journeys() }, until: { $0 == 30 })

            // A reader: it may read the schema's tables, create nothing, and (since 0009) take no
            // advisory lock, so a status that migrated would fail for it.
            let role = "wm_reader_" + UUID().uuidString.lowercased().prefix(8)
            try await pool.query("CREATE ROLE \(identifier: role) LOGIN")
            try await pool.query("GRANT USAGE ON SCHEMA \(identifier: schema) TO \(identifier: role)")
            try await pool.query("GRANT SELECT ON ALL TABLES IN SCHEMA \(identifier: schema) TO \(identifier: role)")
            var components = URLComponents(string: url)!
            components.user = role
            components.password = nil
            let (status, statusOutput) = try await waymark(["projections", "status", "--database-url", components.string!], directory: folder)
            try await pool.query("DROP OWNED BY \(identifier: role)")
            try await pool.query("DROP ROLE \(identifier: role)")
            await pool.close()
            #expect(status == 0, "\(statusOutput)")
            #expect(statusOutput.contains("journeys v") && statusOutput.contains("live"), "\(statusOutput)")
        }
    }

    @Test("the demo runs from waymark.yaml alone")
    func demoFromFile() async throws {
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("demo")
        let folder = try folder(withConfiguration: configuration(url: url, schema: schema, analytics: schema + "_an"))
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, output) = try await waymark(["demo", "--script"], directory: folder)
        #expect(status == 0, "\(output)")
        #expect(output.contains("schema \(schema)"), "\(output)")
        #expect(output.contains("journeys projection caught up: true"), "\(output)")
        #expect(output.contains("\ndone."), "\(output)")
    }

    @Test("an unknown key in waymark.yaml is refused with its line; an option overrides the file")
    func unknownKeyAndOverride() async throws {
        let folder = try folder(withConfiguration: "database:\n  schema: one\nprojections:\n  batchsize: 10\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, output) = try await waymark(["projections", "status"], directory: folder)
        #expect(status != 0)
        #expect(output.contains("waymark.yaml:4: projections.batchsize: unknown key"), "\(output)")
        let (bad, badOutput) = try await waymark(["projections", "status", "--batch-size", "0"], directory: folder)
        #expect(bad != 0)
        #expect(badOutput.contains("--batch-size: must be between 1 and 100000, not 0"), "\(badOutput)")
    }
}

@Suite("waymark config show")
struct ConfigShowTests {
    @Test("config show prints every value with the file line, variable or option that set it, and hides a URL's password")
    func show() async throws {
        let folder = try folder(withConfiguration: "database:\n  url: postgresql://app:secret@db.internal/waymark\nclient:\n  command_timeout: 1500ms\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, output) = try await waymark(["config", "show", "--log-level", "warning"], environment: ["WAYMARK_SCHEMA": "journeys"], directory: folder)
        #expect(status == 0, "\(output)")
        #expect(output.contains("database.url: postgresql://app:***@db.internal/waymark  # waymark.yaml:2"), "\(output)")
        #expect(!output.contains("secret"), "\(output)")
        #expect(output.contains("database.schema: journeys  # WAYMARK_SCHEMA"), "\(output)")
        #expect(output.contains("logging.level: warning  # --log-level"), "\(output)")
        #expect(output.contains("client.command_timeout: 1500ms  # waymark.yaml:4"), "\(output)")
        #expect(output.contains("projections.batch_size: 50000\n"), "\(output)")
    }
}
