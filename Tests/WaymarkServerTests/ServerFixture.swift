import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import ServiceLifecycle
import Testing
import WaymarkClient
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
    /// A plain key of each role; `boundService` is a service key bound to source system `erp`.
    let keys: [ApiRole: String]
    let boundService: String
    let keyStore: ApiKeyStore
    /// The projections the view routes read (not running: `withProjections` runs them).
    let runner: ProjectionRunner

    /// Runs `body` against a running server; stops it, the client and the store afterwards.
    static func run(
        readiness: ((EventStore) -> Readiness)? = nil, rateLimit: RateLimit? = nil, _ body: @Sendable (ServerFixture) async throws -> Void
    ) async throws {
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
            store: store, client: client, keys: keyStore, readiness: readiness?(store) ?? Readiness([Readiness.database(store)]),
            analyticsSchema: store.schema + "_analytics", projections: runner, rateLimit: rateLimit, metrics: PrometheusCollectorRegistry(),
            logger: TestDatabase.quietLogger)
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let app = server.application(host: "127.0.0.1", port: 0) { port in
            sink.yield(port)
            sink.finish()
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            // Stopped as a process stops it: a graceful shutdown, in-flight requests finished.
            try await withServices([app]) {
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw CancellationError() }
                let fixture = ServerFixture(
                    store: store, client: client, http: http, base: "http://127.0.0.1:\(port)", keys: keys, boundService: bound, keyStore: keyStore,
                    runner: runner)
                try await body(fixture)
            }
        } catch {
            try? await http.shutdown()
            await store.close()
            throw error
        }
        try await http.shutdown()
        await store.close()
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

    /// Runs the projections until every one has read the log to its head.
    func catchUpProjections(_ also: [any Service] = []) async throws {
        try await withServices([runner] + also) {
            for name in runner.projections.map(\.name) {
                let caughtUp = try await runner.waitUntilCaughtUp(name, timeout: .seconds(60))
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
