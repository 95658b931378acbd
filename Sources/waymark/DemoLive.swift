import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import WaymarkClient
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkRuntime
import WaymarkServer
import WaymarkSimulation
import WaymarkWebhookReceiver

/// `waymark demo`: Waymark running as a team would open it. The API and the console with the
/// projections, the process manager, the rules engine and a delivery worker (to the log, and to a
/// webhook receiver of the demo's own that checks every signature), fed by the simulator: first a
/// month of history (stalled journeys, breached SLAs, escalations, notifications), then new
/// journeys every few seconds, until Ctrl-C or `--for`.
struct LiveDemo {
    let runtime: WaymarkRuntime
    let duration: Duration?
    let history: Int
    let journeysPerRound: Int
    let roundInterval: Duration

    func run() async throws {
        // Every module's metrics and the HTTP requests' go to one registry, served at /metrics.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = runtime.logger
        try await runtime.withDatabase { database in
            let secret = WebhookSecret.random()
            try await LoopbackReceiver.run(secrets: [secret]) { receiver, url in
                let settings = try demoNotificationSettings(runtime: runtime, receiver: url, secret: secret)
                try await database.withNotifications(worker: "demo", settings: settings) { notifications in
                    let (ports, portSink) = AsyncStream<Int>.makeStream()
                    try await database.withServe(
                        apiOnly: false, instance: "demo", metrics: registry,
                        onListening: { port in
                            portSink.yield(port)
                            portSink.finish()
                        }
                    ) { serve in
                        let keys = try await DemoKeys.make(serve.api.keys)
                        let traffic = DemoTraffic(
                            client: serve.api.client, history: history, journeysPerRound: journeysPerRound, interval: roundInterval, logger: logger)
                        let report = ReceiverReport(receiver: receiver, interval: .seconds(30))
                        let group = ServiceGroup(
                            configuration: .init(
                                services: (notifications.services + serve.services + [traffic, report]).map { .init(service: $0) },
                                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                        try await withThrowingTaskGroup(of: Void.self) { tasks in
                            tasks.addTask {
                                var iterator = ports.makeAsyncIterator()
                                guard let port = await iterator.next() else { return }
                                let scheme = runtime.configuration.server.tlsCertificate == nil ? "http" : "https"
                                print(keys.banner(base: "\(scheme)://\(runtime.configuration.server.host):\(port)", receiver: url))
                                fflush(nil)
                                if let duration {
                                    try await Task.sleep(for: duration)
                                    print("--for \(duration) is over: stopping")
                                    await group.triggerGracefulShutdown()
                                }
                            }
                            // The group ends on Ctrl-C, SIGTERM or the timer's graceful shutdown; then the timer goes.
                            try await group.run()
                            tasks.cancelAll()
                        }
                        print("stopped; the receiver verified \(receiver.count) webhook deliveries")
                    }
                }
            }
        }
    }
}

/// The keys the demo makes and prints: one per role a person tries first.
struct DemoKeys {
    var operatorKey: String
    var analystKey: String
    var serviceKey: String

    static func make(_ keys: ApiKeyStore) async throws -> DemoKeys {
        func key(_ role: ApiRole, _ system: String? = nil) async throws -> String {
            try await keys.create(role: role, sourceSystem: system, label: "demo \(role.rawValue)", expiresAt: nil, by: "waymark demo").1
        }
        return DemoKeys(operatorKey: try await key(.operator), analystKey: try await key(.analyst), serviceKey: try await key(.service, "demo-crm"))
    }

    func banner(base: String, receiver: URL) -> String {
        """

        Waymark is running.
          console        \(base)/console  (sign in with a key below)
          operator key   \(operatorKey)
          analyst key    \(analystKey)
          service key    \(serviceKey)  (source system demo-crm)
          API contract   \(base)/openapi.yaml
          webhooks to    \(receiver)  (the demo's own receiver; signatures checked)

        Try:
          curl -s -H 'Authorization: Bearer \(analystKey)' '\(base)/v1/journeys?status=stalled&limit=5'
          curl -s -X POST -H 'Authorization: Bearer \(serviceKey)' -H 'content-type: application/json' \\
               -d '{"type":"start","journeyType":"order-to-cash","customerId":"c-try","tier":"standard"}' '\(base)/v1/journeys/try-1/commands'
          curl -s -N -H 'Authorization: Bearer \(operatorKey)' '\(base)/v1/events/live'

        Ctrl-C stops everything.
        """
    }
}

/// The simulator as the demo's traffic: a month of history at once, then a few journeys per round
/// (each round a new seed, its events in the hours before now), so the board and the feeds move;
/// beside them, journeys of the minutes-long demo type played as they happen, so that stalls, SLA
/// breaches, escalations and their notifications appear while a person watches.
struct DemoTraffic: Service {
    let client: WaymarkClient
    let history: Int
    let journeysPerRound: Int
    let interval: Duration
    let logger: Logger

    /// The demo's journey type whose stages and SLAs last minutes: played as it happens.
    static let realTimeType = "express-repair"

    func run() async throws {
        let simulator = Simulator(client: client, logger: logger)
        let seed = UInt64.random(in: 1...UInt64(UInt32.max))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            if client.catalog.current(Self.realTimeType) != nil {
                // Its own seeds (the high bit set), so its ids never meet the rounds'.
                let options = RealTimeOptions(
                    journeyTypes: [Self.realTimeType], journeysPerRound: 2, interval: .seconds(5), seed: seed | (1 << 63))
                tasks.addTask {
                    do { try await cancelWhenGracefulShutdown { try await simulator.play(options) } } catch is CancellationError {}
                }
            }
            tasks.addTask { try await playHistoryAndRounds(simulator, seed: seed) }
            try await tasks.waitForAll()
        }
    }

    private func playHistoryAndRounds(_ simulator: Simulator, seed: UInt64) async throws {
        if history > 0 {
            let counts = try await simulator.run(
                SimulationOptions(journeys: history, seed: seed, commandsPerSecond: nil, until: Date(), days: 30, senders: 2, journeysInFlight: 50))
            logger.info("demo history written", metadata: ["journeys": "\(counts.journeysStarted)", "events": "\(counts.events)"])
        }
        var round: UInt64 = 0
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelledOrShuttingDown else { break }
            round += 1
            do {
                // Journeys that began in the last day: most are still running, some stall.
                _ = try await simulator.run(
                    SimulationOptions(
                        journeys: journeysPerRound, seed: seed &+ round, commandsPerSecond: Double(journeysPerRound) * 4, until: Date(), days: 1, senders: 1,
                        journeysInFlight: journeysPerRound))
            } catch {
                logger.warning("demo traffic round failed; the next one tries again", metadata: ["error": "\(error)"])
            }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}

/// What the demo's webhook receiver got, every `interval`: how many deliveries, whether their
/// signatures held, and the kinds of message (the CloudEvents' `type`).
struct ReceiverReport: Service {
    let receiver: LoopbackReceiver
    let interval: Duration

    func run() async throws {
        var shown = 0
        while !Task.isCancelledOrShuttingDown {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            let deliveries = receiver.deliveries
            guard deliveries.count > shown else { continue }
            let fresh = deliveries[shown...]
            shown = deliveries.count
            var kinds: [String: Int] = [:]
            for delivery in fresh {
                let event = (try? JSONSerialization.jsonObject(with: Data(delivery.body))) as? [String: Any]
                kinds[event?["type"] as? String ?? "?", default: 0] += 1
            }
            let refused = fresh.filter { $0.refusal != nil }.count
            print(
                "webhook receiver: \(fresh.count) new (\(refused == 0 ? "every signature valid" : "\(refused) refused")): "
                    + kinds.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
            fflush(nil)
        }
    }
}
