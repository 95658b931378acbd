import Foundation

/// How a delivery worker works: how many notifications it sends at once, how often and how far
/// apart it tries, how long a claim holds, when an endpoint's circuit opens.
public struct DeliveryOptions: Sendable {
    /// Deliveries in flight at once across all endpoints (each endpoint also has its own limit).
    public var concurrency: Int
    /// Attempts before a notification is given up (`NotificationFailed`).
    public var maxAttempts: Int
    public var backoff: RetryBackoff
    /// How long a claimed notification stays with this worker: longer than the longest endpoint
    /// timeout, since a worker that dies holds its claims until then.
    public var lease: Duration
    /// Failed attempts in a row that open an endpoint's circuit, and how long it stays open.
    public var circuitFailures: Int
    public var circuitOpenFor: Duration
    /// The longest wait between looks at the table when nothing wakes the worker.
    public var maxIdle: Duration

    public init(
        concurrency: Int = 16, maxAttempts: Int = 8, backoff: RetryBackoff = RetryBackoff(base: .seconds(2), cap: .seconds(600)),
        lease: Duration = .seconds(150), circuitFailures: Int = 5, circuitOpenFor: Duration = .seconds(30), maxIdle: Duration = .seconds(30)
    ) {
        precondition(concurrency >= 1 && maxAttempts >= 1 && circuitFailures >= 1, "a worker needs positive limits")
        self.concurrency = concurrency
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.lease = lease
        self.circuitFailures = circuitFailures
        self.circuitOpenFor = circuitOpenFor
        self.maxIdle = maxIdle
    }
}
