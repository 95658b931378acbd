import Foundation
import Metrics

/// The store's counters, made once per store from the process's metrics backend
/// (`MetricsSystem.bootstrap`; none is the no-op default). Names carry the `waymark_` prefix.
struct EventStoreMetrics: Sendable {
    /// Appends by outcome: `appended`, `replayed`, `wrong_expected_version`, `refused` (bad input,
    /// idempotency conflict) and `retry_transaction` (the order rule, inside a caller's transaction).
    let appended: Counter
    let replayed: Counter
    let wrongExpectedVersion: Counter
    let refused: Counter
    let retryTransaction: Counter
    /// Autocommit appends the order rule refused and the store ran again in a new transaction.
    let orderRetries: Counter
    /// How long appends take, whatever their outcome.
    let appendDuration: Timer
    /// Pages read, and the events in them, by kind: `stream`, `all`, `category`.
    let streamReads: Counter
    let allReads: Counter
    let categoryReads: Counter
    let streamEventsRead: Counter
    let allEventsRead: Counter
    let categoryEventsRead: Counter

    init(schema: String) {
        func outcome(_ name: String) -> Counter {
            Counter(label: "waymark_appends_total", dimensions: [("schema", schema), ("outcome", name)])
        }
        appended = outcome("appended")
        replayed = outcome("replayed")
        wrongExpectedVersion = outcome("wrong_expected_version")
        refused = outcome("refused")
        retryTransaction = outcome("retry_transaction")
        orderRetries = Counter(label: "waymark_append_order_retries_total", dimensions: [("schema", schema)])
        appendDuration = Timer(label: "waymark_append_duration_seconds", dimensions: [("schema", schema)])
        func reads(_ kind: String) -> (Counter, Counter) {
            (
                Counter(label: "waymark_reads_total", dimensions: [("schema", schema), ("kind", kind)]),
                Counter(label: "waymark_read_events_total", dimensions: [("schema", schema), ("kind", kind)])
            )
        }
        (streamReads, streamEventsRead) = reads("stream")
        (allReads, allEventsRead) = reads("all")
        (categoryReads, categoryEventsRead) = reads("category")
    }

    func recordRead(_ kind: ReadKind, events: Int) {
        switch kind {
        case .stream:
            streamReads.increment()
            streamEventsRead.increment(by: events)
        case .all:
            allReads.increment()
            allEventsRead.increment(by: events)
        case .category:
            categoryReads.increment()
            categoryEventsRead.increment(by: events)
        }
    }

    enum ReadKind {
        case stream, all, category
    }

    /// Subscription metrics: events handled, and how far behind the newest handled event was
    /// recorded (seconds between its recording and its handling).
    struct Subscription: Sendable {
        let handled: Counter
        let lag: Gauge

        init(name: String) {
            handled = Counter(label: "waymark_subscription_events_total", dimensions: [("subscription", name)])
            lag = Gauge(label: "waymark_subscription_lag_seconds", dimensions: [("subscription", name)])
        }
    }

    func record(_ result: AppendResult) {
        (result.replayed ? replayed : appended).increment()
    }

    func record(_ error: any Error) {
        switch error {
        case is WrongExpectedVersionError: wrongExpectedVersion.increment()
        case let error as EventStoreError where error.code == .retryTransaction: retryTransaction.increment()
        case is EventStoreError: refused.increment()
        default: break
        }
    }
}
