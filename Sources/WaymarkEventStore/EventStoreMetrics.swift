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
