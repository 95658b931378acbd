import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkRuntime
import WaymarkServer

/// Appends and journey commands over HTTP (a real server on loopback, AsyncHTTPClient with
/// keep-alive) beside the same work in process, at 1 and 16 connections; and the delay from an
/// append's commit to its Server-Sent Event, beside an in-process follower of the same appends.
struct BenchHTTP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http",
        abstract: "Appends and commands over HTTP at 1 and 16 connections against the same in process; commit → SSE delivery p50/p99.")

    @OptionGroup var database: RuntimeOptions
    @OptionGroup var definitions: DefinitionOptions

    @Option(parsing: .unconditional, help: "Operations per scenario and side.")
    var operations: Int = 6_000

    @Option(parsing: .unconditional, help: "Appends followed live.")
    var liveEvents: Int = 3_000

    @Option(parsing: .unconditional, help: "Seconds per round of the wrk-driven appends (two rounds per side).")
    var wrkSeconds: Int = 6

    func validate() throws {
        try requireAtLeast(256, operations, "--operations")
        try requireAtLeast(100, liveEvents, "--live-events")
        try requireAtLeast(1, wrkSeconds, "--wrk-seconds")
    }

    func run() async throws {
        let catalog = try database.runtime(definitions.overrides).catalog()
        try await withBenchStore(database, maxConnections: 24) { store in
            var quiet = Logger(label: "waymark.bench")
            quiet.logLevel = .warning
            _ = try await ServerSchema.migrate(store.pool, schema: store.schema, logger: quiet)
            let keys = ApiKeyStore(store: store)
            let service = try await keys.create(role: .service, sourceSystem: nil, label: "bench", expiresAt: nil, by: "bench").1
            let operatorKey = try await keys.create(role: .operator, sourceSystem: nil, label: "bench", expiresAt: nil, by: "bench").1
            let client = WaymarkClient(store: store, catalog: catalog, logger: quiet)
            let api = ApiServer(store: store, client: client, keys: keys, readiness: Readiness([]), logger: quiet)
            let (ports, portSink) = AsyncStream<Int>.makeStream()
            let app = try api.application(host: "127.0.0.1", port: 0) { port in
                portSink.yield(port)
                portSink.finish()
            }
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            do {
                try await running([app], logger: quiet) {
                    var iterator = ports.makeAsyncIterator()
                    guard let port = await iterator.next() else { throw CancellationError() }
                    let caller = Caller(http: http, base: "http://127.0.0.1:\(port)", key: service)
                    print("waymark bench http")
                    try await printServer(store)
                    print("  a waymark serve API in this process on 127.0.0.1:\(port); AsyncHTTPClient, keep-alive, one connection per client")
                    print("  in-process side: the same WaymarkClient calls the routes make; sides alternate as in bench commands\n")
                    try await floor(caller)
                    try await appends(caller, client)
                    try await appendsWithWrk(caller, client)
                    try await commands(caller, client, catalog: catalog)
                    try await live(store: store, caller: Caller(http: http, base: caller.base, key: operatorKey))
                }
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw error
            }
        }
    }

    /// One caller of the API: a key and a base URL.
    struct Caller: Sendable {
        let http: HTTPClient
        let base: String
        let key: String

        func post(_ path: String, _ body: String, expecting status: HTTPResponseStatus = .created) async throws {
            var request = HTTPClientRequest(url: base + path)
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(key)")
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await http.execute(request, timeout: .seconds(30))
            let reply = try await response.body.collect(upTo: 1 << 20)
            guard response.status == status else {
                throw ValidationError("POST \(path) answered \(response.status.code): \(String(buffer: reply).prefix(300))")
            }
        }
    }

    private func report(_ what: String, clients: Int, _ http: BenchComparison.Figures, _ local: BenchComparison.Figures) {
        let ratio = http.eventsPerSecond / local.eventsPerSecond
        let target = clients == 16 ? String(format: "(target ≥ 0.6) %@", ratio >= 0.6 ? "ok" : "BELOW TARGET") : "(no target)"
        print(
            "\(what), \(clients) connection\(clients == 1 ? "" : "s")".padding(toLength: 28, withPad: " ", startingAt: 0),
            String(
                format: "HTTP %7.0f/s  p50 %6.3f ms  p99 %6.3f ms | in process %7.0f/s  p50 %6.3f ms  p99 %6.3f ms | ratio %.2f %@ | CPU µs/op %.0f vs %.0f",
                http.eventsPerSecond, http.p50.milliseconds, http.p99.milliseconds, local.eventsPerSecond, local.p50.milliseconds,
                local.p99.milliseconds, ratio, target as NSString, http.clientCPU, local.clientCPU))
    }

    /// What HTTP costs alone: `GET /healthz` (no key, no database) at 16 connections, for reading
    /// the other figures; no target.
    private func floor(_ caller: Caller) async throws {
        let cpuBefore = BenchComparison.processCPU()
        let (elapsed, latencies) = try await BenchComparison.measure(writers: 16, count: operations, eventsPerOperation: 1) { _, _ in
            let response = try await caller.http.execute(HTTPClientRequest(url: caller.base + "/healthz"), timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
        }
        let figures = BenchComparison.Figures(
            latencies: latencies, time: elapsed, cpu: BenchComparison.processCPU() - cpuBefore, eventsPerOperation: 1)
        print(
            "GET /healthz, 16 connections".padding(toLength: 28, withPad: " ", startingAt: 0),
            String(
                format: "HTTP %7.0f/s  p50 %6.3f ms  p99 %6.3f ms | CPU µs/op %.0f (the transport alone, for reference)", figures.eventsPerSecond,
                figures.p50.milliseconds, figures.p99.milliseconds, figures.clientCPU))
    }

    /// The in-process side's event: what the HTTP side's body makes, with an id of its own each
    /// time (one shared id made every append after a stream's first an idempotent no-op, and the
    /// first to the next stream a conflict).
    static var delayed: EventData {
        EventData(
            type: "ShipmentDelayed", data: #"{"delayHours":24,"journeyId":"j-1","orderId":"SO-1"}"#,
            metadata: EventMetadata(correlationId: "j-1", actor: "bench"))
    }

    /// One integration event per append, each to a stream of its own side and writer.
    private func appends(_ caller: Caller, _ client: WaymarkClient) async throws {
        let body = #"{"events":[{"type":"ShipmentDelayed","data":{"journeyId":"j-1","orderId":"SO-1","delayHours":24},"metadata":{"correlationId":"j-1"}}]}"#
        for clients in [1, 16] {
            let (viaHTTP, local) = try await BenchComparison.compare(
                writers: clients, count: operations, eventsPerOperation: 1,
                waymark: { writer, index in try await caller.post("/v1/streams/shipment-h\(clients)x\(writer)x\(index / 8)/events", body) },
                plain: { writer, index in
                    _ = try await client.append(toStream: "shipment-l\(clients)x\(writer)x\(index / 8)", expected: .any, events: [Self.delayed])
                })
            report("appends", clients: clients, viaHTTP, local)
        }
    }

    /// Journey commands of simulated journeys, each side on journeys of its own.
    private func commands(_ caller: Caller, _ client: WaymarkClient, catalog: JourneyCatalog) async throws {
        var nextJourney = 50_000
        for clients in [1, 16] {
            let perClient = operations / clients + 1
            let httpQueues = try BenchCommands.queues(clients: clients, perClient: perClient, client: client, catalog: catalog, firstJourney: &nextJourney)
            let localQueues = try BenchCommands.queues(clients: clients, perClient: perClient, client: client, catalog: catalog, firstJourney: &nextJourney)
            let cursors = Mutex<[Bool: [Int]]>([true: Array(repeating: 0, count: clients), false: Array(repeating: 0, count: clients)])
            @Sendable func next(_ side: Bool, _ writer: Int) -> BenchCommands.Step {
                let position = cursors.withLock { cursors in
                    defer { cursors[side]![writer] += 1 }
                    return cursors[side]![writer]
                }
                return (side ? httpQueues : localQueues)[writer][position]
            }
            let (viaHTTP, local) = try await BenchComparison.compare(
                writers: clients, count: operations, eventsPerOperation: 1,
                waymark: { writer, _ in
                    let step = next(true, writer)
                    let path = "/v1/journeys/\(step.request.journeyId.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)/commands"
                    try await caller.post(path, JourneyCommandBody.json(step.request.command, context: step.request.context))
                },
                plain: { writer, _ in
                    let step = next(false, writer)
                    try await client.send(step.request.command, to: step.request.journeyId, context: step.request.context)
                })
            report("commands", clients: clients, viaHTTP, local)
        }
    }
}
