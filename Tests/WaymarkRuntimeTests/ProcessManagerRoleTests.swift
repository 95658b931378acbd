import Foundation
import Testing
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkRuntime
import WaymarkTesting

@Suite("Runtime: the process manager's role", .scaledTimeLimit(minutes: 5))
struct ProcessManagerRoleTests {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func runtime(schema: String, definitions: URL? = nil) throws -> WaymarkRuntime {
        var configuration = WaymarkConfiguration()
        configuration.database.url = try TestDatabase.url()
        configuration.database.schema = schema
        configuration.database.pool.processManager = 3
        configuration.definitions.directory = (definitions ?? repository.appendingPathComponent("config")).path
        return WaymarkRuntime(configuration: configuration, logger: TestDatabase.quietLogger)
    }

    @Test("migrate applies the process manager's migrations too; status runs no DDL and refuses an unmigrated schema; run builds on the configured pool")
    func roles() async throws {
        let schema = TestDatabase.uniqueSchemaName("rpm")
        try await runtime(schema: schema).withDatabase { database in
            await #expect(throws: RuntimeError.self) { _ = try await database.processManagerStatus() }
            let applied = try await database.migrate()
            #expect(applied.map(\.fileName).contains("0001_deadlines.sql"))
            #expect(applied.map(\.fileName).contains("0001_event_store.sql"))
            let status = try await database.processManagerStatus()
            #expect(status.pending == 0 && status.instances.isEmpty)
            try await database.withProcessManager(instance: "pm-x") { services in
                #expect(services.processManager.instance == "pm-x")
                #expect(services.store.schema == schema)
                #expect(services.store.pool.maxConnections == 3)
            }
            try await database.rebuildProcessManager()
        }
    }

    @Test("a process-manager.yaml that is wrong is named with its file, like the definitions")
    func badSettings() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pm-settings-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: repository.appendingPathComponent("config"), to: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "stale_after: 1h\nrouting: {}\n".write(to: folder.appendingPathComponent("process-manager.yaml"), atomically: true, encoding: .utf8)
        let runtime = try runtime(schema: "unused", definitions: folder)
        #expect {
            _ = try runtime.processManagerSettings(catalog: try runtime.catalog())
        } throws: { error in
            "\(error)".hasPrefix("invalid_value: definitions.directory: \(folder.path): invalid_definition: \(folder.path)/process-manager.yaml")
        }
    }
}
