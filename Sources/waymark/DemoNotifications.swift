import Foundation
import Logging
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkRuntime
import WaymarkWebhookReceiver

/// The demo's notification routing: every role of `process-manager.yaml` and the customer by
/// webhook to the demo's own receiver on loopback, the operators' role to the log.
func demoNotificationSettings(runtime: WaymarkRuntime, receiver url: URL, secret: WebhookSecret) throws -> NotificationSettings {
    let roles = try runtime.processManagerSettings(catalog: try runtime.catalog()).routing.keys
    let endpoint = WebhookEndpoint(name: "demo-receiver", url: url, secrets: [secret], timeout: .seconds(10), concurrency: 8)
    var routes: [String: NotificationRoute] = [:]
    for role in roles { routes[role] = NotificationRoute(channel: .webhook, endpoint: endpoint.name) }
    let operators = roles.contains("operations-manager") ? "operations-manager" : nil
    if let operators { routes[operators] = NotificationRoute(channel: .log, endpoint: nil) }
    return NotificationSettings(
        source: "/waymark/demo", endpoints: [endpoint.name: endpoint], roles: routes, customer: NotificationRoute(channel: .webhook, endpoint: endpoint.name),
        operatorsRole: operators)
}

/// Waits (at most a minute) for the outbox to settle, then shows what was requested, delivered and
/// suppressed, what the receiver verified, and one message as a receiver got it.
func printNotifications(_ worker: DeliveryWorker, receiver: LoopbackReceiver, logger: Logger, _ say: (String) -> Void) async throws {
    let store = worker.store
    _ = try await worker.waitUntilFed(timeout: .seconds(60))
    let clock = ContinuousClock()
    let until = clock.now + .seconds(60)
    var status = try await NotificationStatus.read(store, now: Date(), logger: logger)
    while status.due > 0 || (status.byState["pending"] ?? 0) > status.retrying, clock.now < until {
        try await Task.sleep(for: .milliseconds(200))
        status = try await NotificationStatus.read(store, now: Date(), logger: logger)
    }
    let states = ["pending", "delivered", "suppressed", "failed"].map { "\($0) \(status.byState[$0] ?? 0)" }
    say("outbox: \(states.joined(separator: ", ")) (retrying \(status.retrying))")
    let requested = try await store.query(
        """
        SELECT data->'recipient'->>'kind', data->>'template', count(*) FROM events
        WHERE category = 'journey' AND event_type = 'NotificationRequested' GROUP BY 1, 2 ORDER BY 1, 2
        """)
    for row in requested {
        let (kind, template, count) = try row.decode(String.self, String.self, Int.self)
        say("  requested for a \(kind): \(template) × \(count)")
    }
    let deliveries = receiver.deliveries
    say(
        "the demo's webhook receiver got \(deliveries.count) POSTs, \(deliveries.filter { $0.refusal == nil }.count) with a valid signature, \(Set(deliveries.compactMap(\.id)).count) distinct webhook-ids"
    )
    if let first = deliveries.first(where: { $0.refusal == nil }),
        let event = try? JSONDecoder().decode(CloudEvent<NotificationPayload>.self, from: Data(first.body))
    {
        say("one of them: \(event.type) for journey \(event.subject ?? "-") to \(event.data?.recipient ?? "-"):")
        for line in (event.data?.message ?? "").split(separator: "\n", omittingEmptySubsequences: false).prefix(6) { say("  | \(line)") }
    }
    let suppressed = try await store.query(
        """
        SELECT s.data->>'reason', s.data->>'check', coalesce(c.event_type, '-'), count(*) FROM events s
        LEFT JOIN events c ON c.event_id = (s.data->>'consentEventId')::uuid
        WHERE s.category = 'journey' AND s.event_type = 'NotificationSuppressed' GROUP BY 1, 2, 3 ORDER BY 4 DESC
        """)
    for row in suppressed {
        let (reason, check, decidedBy, count) = try row.decode(String.self, String.self, String.self, Int.self)
        say("  suppressed \(reason) \(check) × \(count), decided by \(decidedBy)")
    }
}
