import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Prometheus
import ServiceLifecycle
import Testing
import WaymarkClient
import WaymarkConsole
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkServer
import WaymarkTesting

let repositoryDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A store with the API's tables, a real server on a loopback port, an HTTP client, and a key of
/// each role.
struct ServerFixture {
    let store: EventStore
    let client: WaymarkClient
    let http: HTTPClient
    let base: String
    let port: Int
    /// A plain key of each role; `boundService` is a service key bound to source system `erp`.
    let keys: [ApiRole: String]
    let boundService: String
    let keyStore: ApiKeyStore
    /// The projections the view routes read (not running: `withProjections` runs them).
    let runner: ProjectionRunner
    let api: ApiServer

    /// Runs `body` against a running server; stops it, the client and the store afterwards.
    static func run<T: Sendable>(
        readiness: ((EventStore) -> Readiness)? = nil, rateLimit: RateLimit? = nil, liveFeeds: LiveFeedOptions = .init(),
        tokens: AccessTokenVerifier? = nil, tls: TestCertificateAuthority? = nil, console: Bool = false,
        _ body: @Sendable (ServerFixture) async throws -> T
    ) async throws -> T {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        try await ServerSchema.migrate(store.pool, schema: store.schema, logger: TestDatabase.quietLogger)
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: repositoryDirectory.appendingPathComponent("config")))
        let client = WaymarkClient(store: store, catalog: catalog, logger: TestDatabase.quietLogger)
        let keyStore = ApiKeyStore(store: store)
        var keys: [ApiRole: String] = [:]
        for role in ApiRole.allCases { keys[role] = try await keyStore.create(role: role, sourceSystem: nil, label: "test", expiresAt: nil, by: "test").1 }
        let bound = try await keyStore.create(role: .service, sourceSystem: "erp", label: "erp", expiresAt: nil, by: "test").1
        let runner = try ProjectionRunner(
            store: store, projections: standardProjections(definitions: client.definitions), analyticsSchema: store.schema + "_analytics",
            standbyInterval: .milliseconds(100), logger: TestDatabase.quietLogger)
        let server = ApiServer(
            store: store, client: client, keys: keyStore, tokens: tokens, readiness: readiness?(store) ?? Readiness([Readiness.database(store)]),
            analyticsSchema: store.schema + "_analytics", projections: runner, rateLimit: rateLimit, metrics: PrometheusCollectorRegistry(),
            liveFeeds: liveFeeds, logger: TestDatabase.quietLogger)
        let (ports, sink) = AsyncStream<Int>.makeStream()
        // Over TLS: a server certificate from the test's CA, which the client trusts.
        var clientConfiguration = HTTPClient.Configuration()
        var serverTLS: TLSConfiguration?
        if let tls {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-tls-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let (certificate, key) = try tls.issue()
            try TestCertificateAuthority.write(certificate, to: folder + "/server.pem")
            try TestCertificateAuthority.write(key, to: folder + "/server.key")
            serverTLS = try ApiServer.tlsConfiguration(certificateFile: folder + "/server.pem", keyFile: folder + "/server.key")
            clientConfiguration.tlsConfiguration = try tls.trustingClient()
        }
        let router = server.router()
        if console { try await Console(api: server, catalog: catalog, logger: TestDatabase.quietLogger).addRoutes(to: router) }
        let app = try server.application(host: "127.0.0.1", port: 0, tls: serverTLS, router: router) { port in
            sink.yield(port)
            sink.finish()
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            // Stopped as a process stops it: a graceful shutdown, in-flight requests finished.
            let value = try await withServices([app]) {
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw CancellationError() }
                let fixture = ServerFixture(
                    store: store, client: client, http: http, base: "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)", port: port, keys: keys,
                    boundService: bound,
                    keyStore: keyStore, runner: runner, api: server)
                return try await body(fixture)
            }
            try await http.shutdown()
            await store.close()
            return value
        } catch {
            try? await http.shutdown()
            await store.close()
            throw error
        }
    }

    struct Reply: Sendable {
        var status: Int
        var contentType: String?
        var headers: HTTPHeaders
        var body: Data

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
        /// The problem's `code`, when the reply is a problem.
        var code: String? { contentType == "application/problem+json" ? json["code"] as? String : nil }
    }

    /// One request; `key` nil sends no credentials.
    func request(
        _ method: HTTPMethod, _ path: String, key: String?, json: String? = nil, headers extra: [(String, String)] = [],
        contentType: String = "application/json"
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let key { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "content-type", value: contentType)
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Reply(
            status: Int(response.status.code), contentType: response.headers.first(name: "content-type"), headers: response.headers, body: Data(buffer: body))
    }

    func key(_ role: ApiRole) -> String { keys[role]! }

    /// A GET's status and headers only, its body left unread (a live feed's never ends).
    func head(_ path: String, key: String?) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        if let key { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        let response = try await http.execute(request, timeout: .seconds(30))
        let contentType = response.headers.first(name: "content-type")
        // A problem's body is short and ends; read it for the problem's code.
        let body = contentType == "text/event-stream" ? ByteBuffer() : try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), contentType: contentType, headers: response.headers, body: Data(buffer: body))
    }

    /// Opens a live feed (Server-Sent Events) at `path`.
    func live(_ path: String, key: String, lastEventId: String? = nil) async throws -> ServerSentEvents {
        var request = HTTPClientRequest(url: base + path)
        request.headers.add(name: "authorization", value: "Bearer \(key)")
        if let lastEventId { request.headers.add(name: "last-event-id", value: lastEventId) }
        let response = try await http.execute(request, deadline: .distantFuture)
        #expect(response.status == .ok && response.headers.first(name: "content-type") == "text/event-stream", "\(response.status)")
        return ServerSentEvents(body: response.body.makeAsyncIterator())
    }

    /// Runs the projections until every one has read the log to its head.
    func catchUpProjections(_ also: [any Service] = []) async throws {
        try await withServices([runner] + also) {
            for name in runner.projections.map(\.name) {
                let caughtUp = try await runner.waitUntilCaughtUp(name, timeout: TestTime.scaled(.seconds(60)))
                #expect(caughtUp, "projection \(name) did not catch up")
            }
            // Caught up is not yet published on an empty log: a first build's views come a moment
            // after it is marked live.
            let names = ProjectionSet.standard(definitions: client.definitions).viewNames
            let published = try await eventually(timeout: .seconds(60)) {
                let rows = try await store.pool.query(
                    "SELECT count(*)::int8 FROM pg_views WHERE schemaname = \(store.schema + "_analytics") AND viewname = ANY(\(PostgresArray(names))::text[])")
                return try rows[0].decode(Int.self, at: 0) == names.count
            }
            #expect(published, "not every view was published")
        }
    }
}

/// The frames of a Server-Sent Events body, as a client reads them. Handed from task to task but
/// read by one at a time.
struct ServerSentEvents: @unchecked Sendable {
    struct Frame: Sendable {
        var id: String?
        var data: String?
        var comment: String?
        var retry: String?
    }

    var body: HTTPClientResponse.Body.AsyncIterator
    var pending = ""

    /// The next frame; nil when the server ended the feed.
    mutating func next() async throws -> Frame? {
        while true {
            if let end = pending.range(of: "\n\n") {
                let text = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                var frame = Frame()
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") { frame.comment = line.dropFirst().trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("id: ") { frame.id = String(line.dropFirst(4)) }
                    if line.hasPrefix("data: ") { frame.data = String(line.dropFirst(6)) }
                    if line.hasPrefix("retry: ") { frame.retry = String(line.dropFirst(7)) }
                }
                return frame
            }
            guard let buffer = try await body.next() else { return nil }
            pending += String(buffer: buffer)
        }
    }

    /// The next event frame, skipping comments and retry hints.
    mutating func nextEvent() async throws -> (id: String, event: [String: Any])? {
        while let frame = try await next() {
            guard let id = frame.id, let data = frame.data else { continue }
            let event = (try JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
            return (id, event)
        }
        return nil
    }
}
