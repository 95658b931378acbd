import Foundation
import Metrics
import MetricsTestKit
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

/// The test process's metrics backend, bootstrapped once: stores made after it count into it.
enum ProcessMetrics {
    static let shared: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()
}

@Suite("Metrics")
struct MetricsTests {
    @Test("appends are counted by outcome, per schema")
    func appendOutcomes() async throws {
        let metrics = ProcessMetrics.shared
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let batch = [event()]
        try await store.append(to: "journey-1", expected: .noStream, events: batch)
        try await store.append(to: "journey-1", expected: .noStream, events: batch)
        await #expect(throws: WrongExpectedVersionError.self) { try await store.append(to: "journey-1", expected: .noStream, events: [event()]) }
        await #expect(throws: EventStoreError.self) { try await store.append(to: "journey 1", events: [event()]) }
        await #expect(throws: EventStoreError.self) {
            try await store.transaction(maxAttempts: 1) { transaction in
                try await transaction.append(to: "audit-1", events: [event()])
                try await store.append(to: "journey-2", events: [event()])
                try await transaction.append(to: "journey-2", events: [event()])
            }
        }
        func count(_ outcome: String) throws -> Int64 {
            try metrics.expectCounter("waymark_appends_total", [("schema", store.schema), ("outcome", outcome)]).totalValue
        }
        #expect(try count("appended") == 2, "journey-1 and journey-2; audit-1 was rolled back")
        #expect(try count("replayed") == 1)
        #expect(try count("wrong_expected_version") == 1)
        #expect(try count("refused") == 1)
        #expect(try count("retry_transaction") == 1)
    }

    @Test("reads, subscription progress and lag, and pool waits and connections in use are measured")
    func readsSubscriptionsAndPool() async throws {
        let metrics = ProcessMetrics.shared
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        for index in 0..<5 { try await store.append(to: "journey-\(index)", events: [event()]) }
        _ = try await store.readStream("journey-1")
        _ = try await readUntil(store, expected: 5)
        _ = try await readUntil(store, category: "journey", expected: 5)
        func counter(_ label: String, _ dimensions: [(String, String)]) throws -> Int64 {
            try metrics.expectCounter(label, dimensions).totalValue
        }
        #expect(try counter("waymark_reads_total", [("schema", store.schema), ("kind", "stream")]) == 1)
        #expect(try counter("waymark_read_events_total", [("schema", store.schema), ("kind", "stream")]) == 1)
        #expect(try counter("waymark_read_events_total", [("schema", store.schema), ("kind", "all")]) == 5)
        #expect(try counter("waymark_read_events_total", [("schema", store.schema), ("kind", "category")]) == 5)
        #expect(try metrics.expectTimer("waymark_append_duration_seconds", [("schema", store.schema)]).values.count == 5)

        let name = "lag-\(store.schema)"
        let subscription = try CatchUpSubscription(store: store, name: name, logger: TestDatabase.quietLogger) { _, _ in }
        let reached = try await withServices([subscription]) { try await caughtUp(subscription, of: store, timeout: .seconds(20)) }
        #expect(reached)
        #expect(try counter("waymark_subscription_events_total", [("subscription", name)]) == 5)
        let lag = try #require(try metrics.expectGauge("waymark_subscription_lag_seconds", [("subscription", name)]).lastValue)
        #expect(lag >= 0 && lag < 60)

        let pool = PostgresPool(
            configuration: store.pool.configuration, maxConnections: 2, label: "metrics-\(store.schema)", logger: TestDatabase.quietLogger)
        defer { Task { await pool.close() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await pool.query("SELECT pg_sleep(0.05)") } }
            try await group.waitForAll()
        }
        let waits = try metrics.expectTimer("waymark_pool_wait_seconds", [("pool", "metrics-\(store.schema)")]).values
        #expect(waits.count == 4)
        #expect(waits.contains { $0 > 20_000_000 }, "two of four waited for a connection: \(waits)")
        let inUse = try metrics.expectGauge("waymark_pool_connections_in_use", [("pool", "metrics-\(store.schema)")]).values
        #expect(inUse.max() == 2)
    }
}
