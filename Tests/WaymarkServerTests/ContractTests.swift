import Foundation
import NIOHTTP1
import Prometheus
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkServer
import WaymarkTesting
import Yams

@Suite("HTTP API: the contract", .scaledTimeLimit(minutes: 3))
struct ContractTests {
    static let committed = repositoryDirectory.appendingPathComponent("Sources/WaymarkServer/Resources/openapi.yaml")

    @Test("the served document is the committed one, and health and readiness answer without a key")
    func served() async throws {
        try await ServerFixture.run { fixture in
            let served = try await fixture.request(.GET, "/openapi.yaml", key: nil)
            let committed = try String(contentsOf: Self.committed, encoding: .utf8)
            #expect(served.status == 200 && served.text == committed)
            let health = try await fixture.request(.GET, "/healthz", key: nil)
            #expect(health.status == 200 && health.json["status"] as? String == "ok")
            let ready = try await fixture.request(.GET, "/readyz", key: nil)
            #expect(ready.status == 200 && ready.json["ready"] as? Bool == true, "\(ready.text)")
        }
    }

    @Test("readiness says which check fails, with 503")
    func notReady() async throws {
        let failing: (EventStore) -> Readiness = { store in
            Readiness([Readiness.database(store), Readiness.Check(name: "migrations") { "schema s lacks the API's tables" }])
        }
        try await ServerFixture.run(readiness: failing) { fixture in
            let reply = try await fixture.request(.GET, "/readyz", key: nil)
            #expect(reply.status == 503 && reply.json["ready"] as? Bool == false, "\(reply.text)")
            let checks = reply.json["checks"] as? [[String: Any]] ?? []
            #expect(checks.map { $0["name"] as? String } == ["database", "migrations"])
            #expect(checks.map { $0["ok"] as? Bool } == [true, false] && checks[1]["problem"] as? String == "schema s lacks the API's tables")
        }
    }

    @Test("every route the server has is in the document, and every documented operation is a route")
    func routesMatchTheDocument() async throws {
        let yaml = try Yams.load(yaml: try String(contentsOf: Self.committed, encoding: .utf8)) as? [String: Any]
        let paths = try #require(yaml?["paths"] as? [String: Any])
        var documented = Set<String>()
        for (path, item) in paths {
            for method in (item as? [String: Any] ?? [:]).keys where ["get", "post", "put", "patch", "delete"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let store = try await TestDatabase.freshStore(maxConnections: 1)
        defer { Task { await store.close() } }
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: repositoryDirectory.appendingPathComponent("config")))
        let server = ApiServer(
            store: store, client: WaymarkClient(store: store, catalog: catalog, logger: TestDatabase.quietLogger), readiness: Readiness([]),
            metrics: PrometheusCollectorRegistry(), logger: TestDatabase.quietLogger)
        let routes = Set(server.router().routes.map { "\($0.method) \($0.path.description.hasPrefix("/") ? "" : "/")\($0.path)" })
        #expect(routes == documented, "only routes: \(routes.subtracting(documented).sorted()); only documented: \(documented.subtracting(routes).sorted())")
    }
}
