import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkRuntime
import WaymarkServer
import WaymarkTesting

@Suite("Runtime: the API's role", .scaledTimeLimit(minutes: 5))
struct ServeRoleTests {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func runtime(schema: String) throws -> WaymarkRuntime {
        var configuration = WaymarkConfiguration()
        configuration.database.url = try TestDatabase.url()
        configuration.database.schema = schema
        configuration.database.pool.server = 3
        configuration.definitions.directory = repository.appendingPathComponent("config").path
        return WaymarkRuntime(configuration: configuration, logger: TestDatabase.quietLogger)
    }

    /// Each check's problem, by name (nil: fine).
    static func problems(_ readiness: Readiness) async -> [String: String?] {
        var out: [String: String?] = [:]
        for check in readiness.checks { out[check.name] = .some(await check.problem()) }
        return out
    }

    @Test("readiness names what is missing: a module's migrations, then projections without a live build; ready once they are live")
    func readinessSaysWhy() async throws {
        let schema = TestDatabase.uniqueSchemaName("rsv")
        try await runtime(schema: schema).withDatabase { database in
            let store = try EventStore.connect(url: database.url, schema: schema, maxConnections: 2, logger: TestDatabase.quietLogger)
            defer { Task { await store.close() } }
            // The event store's tables only, as an older Waymark left them.
            try await Migrator(migrations: try EventStore.migrations(), schema: schema, logger: TestDatabase.quietLogger).migrate(store.pool)
            let before = await Self.problems(database.readiness(store))
            #expect(before["database"] == .some(nil))
            #expect((before["migrations"] ?? nil)?.contains("the process manager's tables") == true, "\(before)")

            try await database.migrate()
            let migrated = await Self.problems(database.readiness(store))
            #expect(migrated["migrations"] == .some(nil), "\(migrated)")
            #expect((migrated["projections"] ?? nil)?.contains("no live build of journeys") == true, "\(migrated)")

            try await database.withProjections { services in
                try await withServices(services.services) {
                    // Ready once every build is live (on an empty log that comes just after catching up).
                    var live: [String: String?] = [:]
                    let ready = try await eventually(timeout: .seconds(60)) {
                        live = await Self.problems(database.readiness(store))
                        return live.values.allSatisfy { $0 == nil }
                    }
                    #expect(ready, "\(live)")
                }
            }
        }
    }

    @Test("single sign-on settings: a JWKS without issuer or audience, unreadable or unusable, stops the start naming the key")
    func singleSignOnSettings() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-jwks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let secretOnly = folder.appendingPathComponent("secret.json")
        try #"{"keys":[{"kty":"oct","alg":"HS256","kid":"s","k":"c2VjcmV0"}]}"#.write(to: secretOnly, atomically: true, encoding: .utf8)
        let cases: [(jwks: String, issuer: String?, audience: String?, key: String, says: String)] = [
            (secretOnly.path, nil, "waymark", "server.jwt_issuer", "must be set"),
            (secretOnly.path, "https://idp", nil, "server.jwt_audience", "must be set"),
            (folder.appendingPathComponent("missing.json").path, "https://idp", "waymark", "server.jwt_jwks", "cannot read"),
            (secretOnly.path, "https://idp", "waymark", "server.jwt_jwks", "RS256 or ES256"),
        ]
        for setting in cases {
            var configuration = try runtime(schema: TestDatabase.uniqueSchemaName("sso")).configuration
            configuration.server.jwtJWKS = setting.jwks
            configuration.server.jwtIssuer = setting.issuer
            configuration.server.jwtAudience = setting.audience
            do {
                try await WaymarkRuntime(configuration: configuration, logger: TestDatabase.quietLogger).withDatabase { database in
                    try await database.withServe(apiOnly: true, onListening: { _ in }) { _ in }
                }
                Issue.record("started with \(setting)")
            } catch let error as ConfigurationError {
                #expect(error.key == setting.key && error.message.contains(setting.says), "\(error)")
            }
        }
    }
}
