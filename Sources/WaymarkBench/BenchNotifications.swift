import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkRuntime
import WaymarkWebhookReceiver

/// Notifications delivered by the worker to a loopback receiver, beside plain AsyncHTTPClient POSTs
/// of the same signed bodies to the same receiver, in the same run.
struct BenchNotifications: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications",
        abstract: "Deliveries/s of a backlog at 16 concurrent deliveries against plain POSTs of the same bodies; request → delivery p50/p99 at a steady load.")

    @OptionGroup var database: RuntimeOptions

    @Option(parsing: .unconditional, help: "Notifications per phase.")
    var notifications: Int = 10_000

    @Option(parsing: .unconditional, help: "Deliveries in flight at once (the worker's and the plain POSTs').")
    var concurrency: Int = 16

    @Option(parsing: .unconditional, help: "The steady phase's arrival rate as a share of the backlog phase's delivery rate.")
    var load: Double = 0.7

    func validate() throws {
        try requireAtLeast(100, notifications, "--notifications")
        try requireAtLeast(1, concurrency, "--concurrency")
        guard load > 0, load <= 1 else { throw ValidationError("--load \(load) is out of range: it must be above 0 and at most 1") }
    }

    func run() async throws {
        let secret = WebhookSecret.random()
        let templates = try database.runtime().notificationTemplates()
        try await LoopbackReceiver.run(secrets: [secret]) { receiver, url in
            try await withBenchStore(database, maxConnections: 12) { store in
                var quiet = Logger(label: "waymark.bench")
                quiet.logLevel = .warning
                try await NotificationSchema.migrate(store.pool, schema: store.schema, logger: quiet)
                let endpoint = WebhookEndpoint(name: "bench", url: url, secrets: [secret], timeout: .seconds(10), concurrency: concurrency)
                let settings = NotificationSettings(
                    source: "/waymark/bench", endpoints: ["bench": endpoint], roles: ["bench-desk": NotificationRoute(channel: .webhook, endpoint: "bench")],
                    customer: nil)
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: WebhookSender.clientConfiguration())
                do {
                    print("waymark bench notifications")
                    try await printServer(store)
                    print("  \(notifications) notifications per phase to a loopback receiver that checks every signature; \(concurrency) deliveries at once")
                    let plainCPU = BenchComparison.processCPU()
                    let plain = try await plainPosts(client: client, endpoint: endpoint, templates: templates)
                    let plainMicroseconds = (BenchComparison.processCPU() - plainCPU) / Double(notifications) * 1e6
                    func worker() throws -> DeliveryWorker {
                        try DeliveryWorker(
                            store: store, settings: settings, templates: templates, httpClient: client, options: DeliveryOptions(concurrency: concurrency),
                            worker: "bench", logger: quiet)
                    }
                    // The backlog is in the log before the worker starts: its rate includes
                    // reading the requests into the outbox.
                    let before = receiver.count
                    let backlogCount = try await appendBacklog(store)
                    let clock = ContinuousClock()
                    let started = clock.now
                    let cpu = (process: BenchComparison.processCPU(), server: BenchComparison.localPostgresCPU())
                    try await running([try worker()], logger: quiet) { try await waitForDeliveries(receiver, count: before + backlogCount) }
                    let backlog = Double(backlogCount) / (clock.now - started).seconds
                    let processMicroseconds = (BenchComparison.processCPU() - cpu.process) / Double(backlogCount) * 1e6
                    let serverMicroseconds = BenchComparison.localPostgresCPU(since: cpu.server).map { $0 / Double(backlogCount) * 1e6 }
                    let ratio = backlog / plain
                    print(
                        String(
                            format: "backlog: delivered %.0f/s | plain POSTs of the same bodies %.0f/s | ratio %.2f (target ≥ 0.7) %@",
                            backlog, plain, ratio, ratio >= 0.7 ? "ok" : "BELOW TARGET"))
                    // Both sides share the machine with the receiver: where it is CPU-bound, the
                    // ratio is the plain POSTs' CPU over the worker's (and the server's).
                    print(
                        String(
                            format: "  CPU per notification: this process %.0f µs (a plain POST %.0f µs, the receiver's half included)", processMicroseconds,
                            plainMicroseconds)
                            + (serverMicroseconds.map { String(format: ", local PostgreSQL %.0f µs", $0) } ?? ""))
                    let rate = backlog * load
                    let latency = try await running([try worker()], logger: quiet) {
                        try await deliverSteadily(store, receiver: receiver, perSecond: rate)
                    }
                    print(
                        String(
                            format:
                                "steady at %.0f requests/s (%.0f%% of the backlog rate): request → delivery p50 %.1f ms  p99 %.1f ms  max %.1f ms (target p99 ≤ 500 ms) %@",
                            rate, load * 100, latency.p50, latency.p99, latency.max, latency.p99 <= 500 ? "ok" : "ABOVE TARGET"))
                    try await client.shutdown()
                } catch {
                    try? await client.shutdown()
                    throw error
                }
            }
        }
    }

    /// The worker's requests, one notification each: what a decision appends.
    private func requests(_ count: Int, phase: String) throws -> [(stream: String, id: String, data: EventData)] {
        try (0..<count).map { index in
            let journeyId = "\(phase)-\(index % 500)"
            let cause = DerivedUUID.of(Data("\(phase)-\(index)".utf8))
            let recipient = NotificationRecipient.role("bench-desk")
            let request = NotificationEvent.Requested(
                notificationId: NotificationEvent.notificationId(cause: cause, recipient: recipient, template: "escalation-raised"), recipient: recipient,
                template: "escalation-raised", locale: "en", variables: Self.variables(journeyId),
                cause: .init(eventId: cause, kind: "escalation", reference: "bench-\(index)"),
                journey: .init(
                    journeyId: journeyId, journeyType: "order-to-cash", definitionVersion: "order-to-cash+0000000000000000", stage: "fulfilment",
                    department: "fulfilment", tier: "strategic"),
                requestedAt: Date())
            let event = NotificationEvent.requested(request)
            return (
                "journey-\(journeyId)", request.notificationId,
                EventData(
                    id: NotificationEvent.requestEventId(notificationId: request.notificationId), type: event.type,
                    data: try event.encode(with: .standard, subject: nil), metadata: EventMetadata(correlationId: journeyId, actor: "bench"))
            )
        }
    }

    static func variables(_ journeyId: String) -> [String: NotificationValue] {
        [
            "journey_id": .text(journeyId), "journey_type": .text("order-to-cash"), "customer_tier": .text("strategic"), "stage": .text("fulfilment"),
            "reason": .text("sla_ladder"), "level": .text("1"), "escalated_at": .text("2026-12-06T08:00:00Z"),
        ]
    }

    /// `notifications` POSTs of the bodies the worker sends, signed, `concurrency` at once; per second.
    private func plainPosts(client: HTTPClient, endpoint: WebhookEndpoint, templates: NotificationTemplates) async throws -> Double {
        let bodies = try (0..<notifications).map { index -> (String, [UInt8]) in
            let id = "plain_\(index)"
            let message = try templates.render(
                template: "escalation-raised", channel: .webhook, locale: "en", values: Self.variables("plain-\(index % 500)").mapValues(TemplateValue.init))
            let event = CloudEvent.notification(
                id: id, source: "/waymark/bench", journeyID: "plain-\(index % 500)", requestedAt: Date(),
                payload: NotificationPayload(
                    recipient: "role bench-desk", channel: "webhook", template: "escalation-raised", locale: "en", purpose: nil, message: message.text))
            return (id, try event.encoded())
        }
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<concurrency {
                group.addTask {
                    for index in stride(from: lane, to: bodies.count, by: concurrency) {
                        let (id, body) = bodies[index]
                        let headers = try WebhookSigner.sign(id: id, timestamp: Int64(Date().timeIntervalSince1970), body: body, secrets: endpoint.secrets)
                        var request = HTTPClientRequest(url: endpoint.url.absoluteString)
                        request.method = .POST
                        request.headers.add(name: "content-type", value: CloudEvent<NotificationPayload>.mediaType)
                        for (name, value) in headers.asPairs { request.headers.add(name: name, value: value) }
                        request.body = .bytes(ByteBuffer(bytes: body))
                        let response = try await client.execute(request, timeout: .seconds(10))
                        for try await _ in response.body {}
                        guard (200..<300).contains(response.status.code) else { throw ValidationError("the receiver answered \(response.status.code)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(notifications) / (clock.now - started).seconds
    }

    /// Appends every request of the backlog phase; returns how many.
    private func appendBacklog(_ store: EventStore) async throws -> Int {
        let items = try requests(notifications, phase: "backlog")
        for chunk in stride(from: 0, to: items.count, by: 500) {
            let part = items[chunk..<min(chunk + 500, items.count)]
            try await store.append(Dictionary(grouping: part, by: \.stream).map { StreamAppend(to: $0.key, events: $0.value.map(\.data)) })
        }
        return items.count
    }

    /// Appends requests at `perSecond` in small batches; request → first arrival at the receiver, in ms.
    private func deliverSteadily(_ store: EventStore, receiver: LoopbackReceiver, perSecond: Double) async throws -> (p50: Double, p99: Double, max: Double) {
        let items = try requests(notifications, phase: "steady")
        var requestedAt: [String: Date] = [:]
        let batch = 20
        let interval = Double(batch) / perSecond
        let clock = ContinuousClock()
        let started = clock.now
        let before = receiver.count
        for (number, chunk) in stride(from: 0, to: items.count, by: batch).enumerated() {
            let due = started + .milliseconds(Int64(Double(number) * interval * 1000))
            if due > clock.now { try await clock.sleep(until: due) }
            let part = items[chunk..<min(chunk + batch, items.count)]
            let now = Date()
            try await store.append(Dictionary(grouping: part, by: \.stream).map { StreamAppend(to: $0.key, events: $0.value.map(\.data)) })
            for item in part { requestedAt[item.id] = now }
        }
        try await waitForDeliveries(receiver, count: before + items.count)
        var arrived: [String: Date] = [:]
        for delivery in receiver.deliveries {
            guard let id = delivery.id, requestedAt[id] != nil, arrived[id] == nil else { continue }
            arrived[id] = delivery.receivedAt
        }
        let latencies = arrived.map { $0.value.timeIntervalSince(requestedAt[$0.key]!) * 1000 }.sorted()
        guard let last = latencies.last else { return (0, 0, 0) }
        return (latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)], last)
    }

    private func waitForDeliveries(_ receiver: LoopbackReceiver, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(600)
        while receiver.count < count {
            guard ContinuousClock.now < deadline else { throw ValidationError("only \(receiver.count) of \(count) deliveries arrived in 10 minutes") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
