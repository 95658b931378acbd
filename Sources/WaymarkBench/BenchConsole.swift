import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import WaymarkClient
import WaymarkConsole
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkRuntime
import WaymarkServer
import WaymarkSimulation

/// The console's pages on a large store: each page's time from request to the last byte over
/// loopback, beside `/healthz` on the same server (the transport's own cost), in the same run.
struct BenchConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Console pages' p50/p95 on a simulated store (default 100,000 journeys), beside /healthz on the same server.")

    @OptionGroup var database: RuntimeOptions
    @OptionGroup var definitions: DefinitionOptions

    @Option(parsing: .unconditional, help: "Journeys to simulate (about 16 events each with their customers).")
    var journeys: Int = 100_000

    @Option(parsing: .unconditional, help: "Requests per page, after three to warm up.")
    var requests: Int = 40

    @Option(
        help: ArgumentHelp(
            "Measure the journeys a schema already holds (filled by `waymark simulate`) instead of simulating: nothing is simulated, the schema and the read models built in it are kept.",
            valueName: "schema"))
    var existingSchema: String?

    func validate() throws {
        try requireAtLeast(100, journeys, "--journeys")
        try requireAtLeast(5, requests, "--requests")
    }

    func run() async throws {
        let catalog = try database.runtime(definitions.overrides).catalog()
        try await withBenchStore(database, maxConnections: 24, existingSchema: existingSchema) { store in
            var quiet = Logger(label: "waymark.bench")
            quiet.logLevel = .warning
            print("waymark bench console")
            try await printServer(store)
            try await ServerSchema.migrate(store.pool, schema: store.schema, logger: quiet)
            let client = WaymarkClient(store: store, catalog: catalog, logger: quiet)
            let clock = ContinuousClock()
            let started = clock.now
            if existingSchema == nil {
                let counts = try await Simulator(client: client, logger: quiet).run(
                    SimulationOptions(journeys: journeys, seed: 1, until: Date(), days: 90, senders: 4, journeysInFlight: 200))
                print(String(format: "simulated: %d journeys in %.0f s", counts.journeysStarted, (clock.now - started).seconds))
            }
            let stored = try await store.pool.query(
                "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM events WHERE event_type = 'JourneyStarted')")[0]
            let (events, journeysStored) = try stored.decode(Int64.self, Int64.self)
            print("the store: \(journeysStored) journeys, \(events) events")
            try await store.pool.query("VACUUM ANALYZE events")
            let analytics = store.schema + "_analytics"
            let runner = try ProjectionRunner(
                store: store, projections: standardProjections(catalog: catalog), analyticsSchema: analytics, batchSize: 50_000, logger: quiet)
            let api = ApiServer(store: store, client: client, readiness: Readiness([]), analyticsSchema: analytics, projections: runner, logger: quiet)
            let router = api.router()
            try await Console(api: api, catalog: catalog, logger: quiet).addRoutes(to: router)
            let (ports, sink) = AsyncStream<Int>.makeStream()
            let app = try api.application(host: "127.0.0.1", port: 0, router: router) { port in
                sink.yield(port)
                sink.finish()
            }
            let group = ServiceGroup(configuration: .init(services: [.init(service: store), .init(service: runner), .init(service: app)], logger: quiet))
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let buildStarted = clock.now
                for name in runner.projections.map(\.name) {
                    guard try await runner.waitUntilCaughtUp(name, timeout: .seconds(3_600)) else { throw CancellationError() }
                }
                // The first build's views appear a moment after it is live.
                while try await store.pool.query("SELECT count(*) FROM pg_views WHERE schemaname = \(analytics)")[0].decode(Int64.self, at: 0) < 10 {
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await store.pool.query("ANALYZE")
                print(String(format: "views built in %.0f s", (clock.now - buildStarted).seconds))
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw CancellationError() }
                let key = try await api.keys.create(role: .operator, sourceSystem: nil, label: "bench", expiresAt: nil, by: "bench").1
                try await measure(http: http, base: "http://127.0.0.1:\(port)", key: key, store: store, analytics: analytics)
                try await http.shutdown()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    /// Every page, `requests` times each (journeys and subjects drawn from the views).
    func measure(http: HTTPClient, base: String, key: String, store: EventStore, analytics: String) async throws {
        let sample = try await store.pool.query(
            "SELECT journey_id, coalesce(survivor_customer_id, customer_id) FROM \(identifier: analytics).journeys ORDER BY md5(journey_id) LIMIT \(requests)"
        ).map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) }
        // The simulated type with the most open journeys (the demo's minutes-long type has none here).
        let type =
            try await store.pool.query(
                "SELECT journey_type FROM \(identifier: analytics).journeys WHERE ended_at IS NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ).first?.decode(String.self, at: 0) ?? ""
        func segment(_ id: String) -> String { id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? id }
        let pages: [(String, (Int) -> String)] = [
            ("/healthz (baseline)", { _ in "/healthz" }),
            ("board", { _ in "/console/board?type=\(type)" }),
            ("board, filtered", { _ in "/console/board?type=\(type)&tier=standard&status=stalled" }),
            ("journeys list", { _ in "/console/journeys?type=\(type)" }),
            ("journey", { "/console/journeys/" + segment(sample[$0 % sample.count].0) }),
            ("SLA risk", { _ in "/console/sla" }),
            ("escalations", { _ in "/console/escalations" }),
            ("journey map", { _ in "/console/map?type=\(type)" }),
            ("flow analytics", { _ in "/console/flow?type=\(type)" }),
            ("consent", { "/console/consent?subject=\(sample[$0 % sample.count].1)" }),
            ("operations", { _ in "/console/operations" }),
        ]
        // `first`: the first request of a page, before anything is warm; the map's and flow
        // page's figures over history are computed then and reused for a minute (RecentFigures).
        print("page (\(requests) requests each, one at a time) first ms   p50 ms   p95 ms   max ms")
        for (name, path) in pages {
            var times: [Duration] = []
            var first: Duration?
            for index in -3..<requests {
                var request = HTTPClientRequest(url: base + path(max(index, 0)))
                request.headers.add(name: "cookie", value: "waymark_console=\(key)")
                let started = ContinuousClock.now
                let response = try await http.execute(request, timeout: .seconds(60))
                _ = try await response.body.collect(upTo: 64 << 20)
                guard response.status == .ok else { throw ValidationError("\(name) answered \(response.status.code)") }
                if index >= 0 { times.append(ContinuousClock.now - started) }
                if first == nil { first = ContinuousClock.now - started }
            }
            times.sort()
            func at(_ share: Int) -> Double { times[min(times.count - 1, times.count * share / 100)].milliseconds }
            let target = name.hasPrefix("/healthz") ? "" : (at(95) <= 200 ? "ok" : "ABOVE TARGET (p95 ≤ 200 ms)")
            print(
                name.padding(toLength: 40, withPad: " ", startingAt: 0)
                    + String(format: "%8.1f  %7.1f  %7.1f  %7.1f  %@", first?.milliseconds ?? 0, at(50), at(95), times.last!.milliseconds, target))
        }
    }
}
