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
}
