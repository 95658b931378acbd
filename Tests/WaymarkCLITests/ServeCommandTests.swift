import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing
import WaymarkTesting

@Suite("waymark serve and waymark keys", .scaledTimeLimit(minutes: 5))
struct ServeCommandTests {
    @Test(
        "keys made on the command line open the API of a running `waymark serve`; it becomes ready once its projections are live; a key revoked elsewhere stops within seconds; SIGTERM stops it cleanly"
    )
    func serveWithKeys() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("srv")
        let database = ["--database-url", url, "--schema", schema, "--log-level", "warning"]
        let (migrated, migrateOutput) = try await waymark(["migrate"] + database)
        #expect(migrated == 0 && migrateOutput.contains("the HTTP API's 0001_api_keys.sql"), "\(migrateOutput)")
        let admin = try await Self.createKey(["--role", "admin", "--label", "ops"] + database)
        let service = try await Self.createKey(["--role", "service", "--source-system", "erp", "--expires", "30d"] + database)
        let serviceId = String(service.split(separator: "_")[1])
        let operatorKey = try await Self.createKey(["--role", "operator"] + database)
        let (refused, refusedOutput) = try await waymark(["keys", "create", "--role", "owner"] + database)
        #expect(refused != 0 && refusedOutput.contains("--role 'owner' is no role"), "\(refusedOutput)")

        let log = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-serve-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let server = try startWaymark(
            ["serve", "--port", "0", "--instance", "serve-test", "--definitions", repository.appendingPathComponent("config").path] + database, output: log,
            environment: ["WAYMARK_ANALYTICS_SCHEMA": schema + "_analytics"])
        let base = try #require(try await Self.listening(log))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            func call(_ method: HTTPMethod, _ path: String, key: String?, body: String? = nil) async throws -> (Int, String) {
                var request = HTTPClientRequest(url: base + path)
                request.method = method
                if let key { request.headers.add(name: "authorization", value: "Bearer \(key)") }
                if let body {
                    request.headers.add(name: "content-type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: body))
                }
                let response = try await http.execute(request, timeout: .seconds(30))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            #expect(try await call(.GET, "/healthz", key: nil).0 == 200)
            // Ready once the projections it runs are live.
            let ready = try await eventually(timeout: .seconds(90)) { try await call(.GET, "/readyz", key: nil).0 == 200 }
            let readiness = try await call(.GET, "/readyz", key: nil).1
            #expect(ready, "\(readiness)")
            let (started, startReply) = try await call(
                .POST, "/v1/journeys/srv-1/commands", key: service,
                body: #"{"type":"start","customerId":"c-1","journeyType":"order-to-cash","tier":"standard"}"#)
            #expect(started == 201, "\(startReply)")
            // The modules' metrics and the HTTP requests', in one registry.
            let (scraped, metrics) = try await call(.GET, "/metrics", key: operatorKey)
            #expect(scraped == 200 && metrics.contains("waymark_appends_total") && metrics.contains("waymark_http_requests_total"), "\(metrics)")
            let (listed, listReply) = try await call(.GET, "/v1/keys", key: admin)
            #expect(listed == 200 && listReply.contains(serviceId) && listReply.contains(#""sourceSystem":"erp""#), "\(listReply)")

            let (revoked, revokeOutput) = try await waymark(["keys", "revoke", serviceId] + database)
            #expect(revoked == 0 && revokeOutput.contains("revoked"), "\(revokeOutput)")
            // Another process revoked it: this server's lookup cache lets it through for at most 5 s.
            let stopped = try await eventually(timeout: .seconds(15)) { try await call(.GET, "/v1/events", key: service).0 == 401 }
            #expect(stopped)
            let (_, listOutput) = try await waymark(["keys", "list"] + database)
            #expect(listOutput.contains("\(serviceId)  service  erp  revoked"), "\(listOutput)")
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            server.terminate()
            throw error
        }
        server.terminate()
        _ = await server.exited()
        #expect(server.terminationStatus == 0, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    @Test("`serve --tls-cert --tls-key` answers HTTPS with the given certificate; a certificate without its key is refused at start")
    func serveOverTLS() async throws {
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("srvtls")
        let database = ["--database-url", url, "--schema", schema, "--log-level", "warning"]
        #expect(try await waymark(["migrate"] + database).0 == 0)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-clitls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try TestCertificateAuthority()
        let (certificate, key) = try authority.issue()
        try TestCertificateAuthority.write(certificate, to: folder + "/server.pem")
        try TestCertificateAuthority.write(key, to: folder + "/server.key")

        let (halfStatus, halfOutput) = try await waymark(["serve", "--api-only", "--port", "0", "--tls-cert", folder + "/server.pem"] + database)
        #expect(halfStatus != 0 && halfOutput.contains("server.tls_key") && halfOutput.contains("must be set"), "\(halfOutput)")

        let log = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-serve-tls-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let server = try startWaymark(
            ["serve", "--api-only", "--port", "0", "--tls-cert", folder + "/server.pem", "--tls-key", folder + "/server.key"] + database, output: log)
        let base = try #require(try await Self.listening(log))
        #expect(base.hasPrefix("https://127.0.0.1:"), "\(base)")
        var configuration = HTTPClient.Configuration()
        configuration.tlsConfiguration = try authority.trustingClient()
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await http.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(30))
            #expect(response.status == .ok)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            server.terminate()
            throw error
        }
        server.terminate()
        _ = await server.exited()
        #expect(server.terminationStatus == 0, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    /// `waymark keys create` with `arguments`; the secret it prints once.
    static func createKey(_ arguments: [String]) async throws -> String {
        let (status, output) = try await waymark(["keys", "create"] + arguments)
        #expect(status == 0, "\(output)")
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("secret, shown this once: ") }, "\(output)")
        return String(line.dropFirst("secret, shown this once: ".count))
    }

    /// The URL `waymark serve` prints once it listens, read from its log.
    static func listening(_ log: URL) async throws -> String? {
        var found: String?
        _ = try await eventually(timeout: .seconds(60)) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) else { return false }
            found = line.dropFirst("listening on ".count).split(separator: " ").first.map(String.init)
            return true
        }
        return found
    }
}
