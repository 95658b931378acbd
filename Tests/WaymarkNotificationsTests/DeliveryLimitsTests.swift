import AsyncHTTPClient
import Foundation
import Synchronization
import Testing
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkTesting
import WaymarkWebhookReceiver

/// The per-endpoint limit, the circuit, and several workers on one outbox.
@Suite(.scaledTimeLimit(minutes: 3)) struct DeliveryLimitsTests {
    @Test("an endpoint never holds more deliveries at once than its concurrency, however many the worker may send")
    func perEndpointConcurrency() async throws {
        let (mostAtOnce, delivered) = try await Self.deliverHeld(12, endpointConcurrency: 2)
        #expect(mostAtOnce == 2)
        #expect(delivered.count == 12)
    }

    @Test("an endpoint's concurrency is reached, above the HTTP client's default of 8 connections per host")
    func concurrencyAboveTheClientDefault() async throws {
        let (mostAtOnce, delivered) = try await Self.deliverHeld(36, endpointConcurrency: 12)
        #expect(mostAtOnce == 12)
        #expect(delivered.count == 36)
    }

    /// Delivers `count` notifications to one endpoint of `endpointConcurrency`, by a worker that may
    /// send 16 at once. The receiver holds every request until the worker has claimed all of them
    /// and the endpoint is full; then it answers them all. Returns the most the receiver held at
    /// once and the webhook ids it saw. Waiting for the claims (not for time) keeps it independent
    /// of how fast the feed reads the requests on a loaded machine.
    static func deliverHeld(_ count: Int, endpointConcurrency: Int) async throws -> (Int, Set<String>) {
        let fixture = try await DeliveryFixture.make()
        return try await LoopbackReceiver.run(secrets: [fixture.secret], answer: .stall) { receiver, url in
            try await withHTTPClient { client in
                for index in 0..<count { try await fixture.request(.role("desk"), journeyId: "j-\(index)") }
                let worker = try fixture.worker(
                    fixture.settings(url: url, concurrency: endpointConcurrency, timeout: .seconds(120)), options: DeliveryOptions(concurrency: 16),
                    client: client)
                try await withServices([worker]) {
                    try await expectEventually {
                        let claimed = try await fixture.store.pool.query("SELECT count(*) FROM nt_deliveries WHERE leased_by IS NOT NULL")
                        return try claimed[0].decode(Int.self, at: 0) == count && receiver.holding >= endpointConcurrency
                    }
                    await receiver.release()
                    try await expectEventually { try await Self.count(in: fixture, state: "delivered") == count }
                }
                return (receiver.mostAtOnce, Set(receiver.deliveries.compactMap(\.id)))
            }
        }
    }

    @Test("after repeated failures the circuit opens: later notifications wait without spending attempts, and go once it closes")
    func circuitOpensAndCloses() async throws {
        let fixture = try await DeliveryFixture.make()
        let healthy = Healthy()
        try await LoopbackReceiver.run(secrets: [fixture.secret], answer: .script { _, _ in healthy.isHealthy ? 204 : 500 }) { receiver, url in
            try await withHTTPClient { client in
                let options = DeliveryOptions(
                    concurrency: 1, maxAttempts: 50, backoff: RetryBackoff(base: .seconds(1), cap: .seconds(1)), circuitFailures: 3,
                    circuitOpenFor: .seconds(60))
                let worker = try fixture.worker(fixture.settings(url: url, concurrency: 1), options: options, client: client)
                let first = try await fixture.request(.role("desk"), journeyId: "a")
                try await withServices([worker]) {
                    // Three failed attempts (the clock moved past each backoff) open the circuit. The
                    // feed reads below the cluster's oldest open writer: other tests' long
                    // transactions can hold the first request back for a while.
                    try await expectEventually(timeout: .seconds(90)) {
                        if receiver.deliveries.count < 3, fixture.clock.sleepers > 0 { fixture.clock.advance(by: .seconds(1)) }
                        return receiver.deliveries.count == 3
                    }
                    let second = try await fixture.request(.role("desk"), journeyId: "b")
                    fixture.clock.advance(by: .seconds(1))
                    // Both are due, neither is sent: put off to when the circuit may close, their attempts not counted.
                    try await expectEventually {
                        let a = try await fixture.row(first.notificationId)
                        let b = try await fixture.row(second.notificationId)
                        return a?.attempts == 3 && b?.attempts == 0 && (b?.next ?? .distantPast) > fixture.time.now().addingTimeInterval(50)
                    }
                    #expect(receiver.deliveries.count == 3)
                    healthy.set(true)
                    try await expectEventually {
                        if fixture.clock.sleepers > 0 { fixture.clock.advance(by: .seconds(10)) }
                        return try await Self.count(in: fixture, state: "delivered") == 2
                    }
                    guard case .delivered(let delivered) = try await fixture.outcome(of: second.notificationId, journeyId: "b") else {
                        Issue.record("not delivered")
                        return
                    }
                    #expect(delivered.attempts == 1)
                }
            }
        }
    }

    @Test("two workers on one outbox: every notification delivered, each outcome recorded once")
    func twoWorkersShareTheOutbox() async throws {
        let fixture = try await DeliveryFixture.make()
        try await LoopbackReceiver.run(secrets: [fixture.secret]) { receiver, url in
            try await withHTTPClient { client in
                var ids: Set<String> = []
                for index in 0..<150 { ids.insert(try await fixture.request(.role("desk"), journeyId: "j-\(index % 40)").notificationId) }
                let other = try TestDatabase.anotherProcess(sharing: fixture.store)
                let settings = fixture.settings(url: url)
                let first = try fixture.worker(settings, options: DeliveryOptions(concurrency: 4), client: client, name: "w1")
                let second = try DeliveryWorker(
                    store: other, settings: settings, templates: try DeliveryFixture.templates, httpClient: client, options: DeliveryOptions(concurrency: 4),
                    time: fixture.time, worker: "w2", logger: TestDatabase.quietLogger)
                try await withServices([first, second]) {
                    try await expectEventually { try await Self.count(in: fixture, state: "delivered") == 150 }
                }
                await other.close()
                let rows = try await fixture.store.pool.query(
                    "SELECT event_type, count(*), count(DISTINCT data->>'notificationId') FROM events WHERE event_type = 'NotificationDelivered' GROUP BY event_type"
                )
                let (_, count, distinct) = try rows[0].decode(String.self, Int.self, Int.self)
                #expect(count == 150 && distinct == 150)
                #expect(Set(receiver.deliveries.compactMap(\.id)) == ids)
                let workers = try await fixture.store.pool.query("SELECT worker, delivered FROM nt_workers ORDER BY worker")
                #expect(try workers.map { try $0.decode(Int.self, at: 1) }.reduce(0, +) == 150)
            }
        }
    }

    static func count(in fixture: DeliveryFixture, state: String) async throws -> Int {
        try await fixture.store.pool.query("SELECT count(*) FROM nt_deliveries WHERE state = \(state)")[0].decode(Int.self, at: 0)
    }
}

/// Whether the receiver answers well, switched by the test.
final class Healthy: Sendable {
    private let state = Mutex(false)
    var isHealthy: Bool { state.withLock { $0 } }
    func set(_ value: Bool) { state.withLock { $0 = value } }
}
