import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// How one delivery attempt ended. Only a 2xx answer delivers (the Standard Webhooks rule); a
/// redirect is a failure, so the endpoint's URL gets fixed instead of followed.
public enum WebhookOutcome: Sendable, Equatable, CustomStringConvertible {
    case delivered(status: Int)
    case failed(WebhookFailure)

    public var description: String {
        switch self {
        case .delivered(let status): return "delivered (HTTP \(status))"
        case .failed(let failure): return "failed: \(failure)"
        }
    }
}

public enum WebhookFailure: Sendable, Equatable, CustomStringConvertible {
    /// The receiver answered with a status outside 2xx.
    case status(Int)
    /// No complete answer within the endpoint's timeout.
    case timeout
    /// No exchange at all: refused, reset, name not resolved, TLS refused. A short reason.
    case connection(String)

    public var description: String {
        switch self {
        case .status(let status): return "HTTP \(status)"
        case .timeout: return "timed out"
        case .connection(let reason): return "connection failed: \(reason)"
        }
    }
}

/// One attempt: its outcome, the `webhook-timestamp` it was signed with, how long it took, and
/// how long the receiver asked to be left alone (`Retry-After` on a 429 or 503).
public struct WebhookAttempt: Sendable, Equatable {
    public var outcome: WebhookOutcome
    public var signedAt: Int64
    public var duration: Duration
    public var retryAfter: Duration?
}

/// What a receiver's answer tells the worker beyond failing: `410 Gone` means the endpoint will
/// never take it (Standard Webhooks: stop sending), `429 Too Many Requests` that it is alive but
/// throttling (no sign of a broken endpoint, so it does not feed the circuit).
extension WebhookFailure {
    public var isGone: Bool { self == .status(410) }
    public var isThrottled: Bool { self == .status(429) }
}

/// The `Retry-After` header's wait: delay-seconds or an HTTP date (RFC 9110 §10.2.3), from `now`;
/// nil when absent or unreadable, zero for a date already past.
public func retryAfterDelay(_ value: String?, now: Date) -> Duration? {
    guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
    if let seconds = Int64(value) { return seconds >= 0 ? .seconds(seconds) : nil }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    guard let date = formatter.date(from: value) else { return nil }
    return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000)))
}

/// Sends signed CloudEvents to webhook endpoints, once per call: retries, backoff, the
/// per-endpoint limit and the circuit belong to the delivery worker.
public struct WebhookSender: Sendable {
    public let client: HTTPClient
    public let logger: Logger

    public init(client: HTTPClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The client configuration webhooks want: no redirects (a 3xx is a failure to report), and
    /// a refused connection fails the attempt at once rather than being retried inside the client
    /// until the timeout, so the worker sees it and backs off.
    public static func clientConfiguration() -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.connectionPool.retryConnectionEstablishment = false
        // An endpoint's `concurrency` is the limit (`EndpointGate`): the client's own default of
        // 8 connections per host would queue the rest of the sends behind those.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = NotificationSettings.concurrencyRange.upperBound
        return configuration
    }

    /// Encodes `event`, signs it with the endpoint's secrets at `now` and POSTs it. Throws only
    /// when the event cannot be encoded or its id cannot be signed; everything the network does is
    /// an outcome.
    public func send<Payload>(_ event: CloudEvent<Payload>, to endpoint: WebhookEndpoint, now: Date) async throws -> WebhookAttempt {
        try await send(body: try event.encoded(), id: event.id, to: endpoint, now: now)
    }

    public func send(body: [UInt8], id: String, to endpoint: WebhookEndpoint, now: Date) async throws -> WebhookAttempt {
        let timestamp = Int64(now.timeIntervalSince1970.rounded(.down))
        let headers = try WebhookSigner.sign(id: id, timestamp: timestamp, body: body, secrets: endpoint.secrets)
        var request = HTTPClientRequest(url: endpoint.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "content-type", value: CloudEvent<NotificationPayload>.mediaType)
        request.headers.add(name: "user-agent", value: "Waymark-Webhooks/1")
        for (name, value) in headers.asPairs { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))

        let clock = ContinuousClock()
        let started = clock.now
        let outcome: WebhookOutcome
        var retryAfter: Duration?
        do {
            let deadline = NIODeadline.now() + .milliseconds(endpoint.timeout.milliseconds)
            let response = try await client.execute(request, deadline: deadline, logger: logger)
            // Read the answer to its end (and drop it) so the connection can be reused.
            for try await _ in response.body {}
            let status = Int(response.status.code)
            outcome = (200..<300).contains(status) ? .delivered(status: status) : .failed(.status(status))
            if status == 429 || status == 503 { retryAfter = retryAfterDelay(response.headers.first(name: "retry-after"), now: now) }
        } catch let error as HTTPClientError where error == .cancelled && Task.isCancelled {
            throw CancellationError()
        } catch {
            outcome = .failed(Self.failure(error))
        }
        let attempt = WebhookAttempt(outcome: outcome, signedAt: timestamp, duration: clock.now - started, retryAfter: retryAfter)
        var metadata: Logger.Metadata = [
            "webhook.endpoint": "\(endpoint.name)", "webhook.id": "\(id)", "webhook.outcome": "\(outcome)",
            "webhook.duration_ms": "\(attempt.duration.milliseconds)",
        ]
        if case .delivered = outcome {
            logger.debug("webhook delivered", metadata: metadata)
        } else {
            metadata["webhook.url"] = "\(endpoint.url.absoluteString)"
            logger.notice("webhook attempt failed", metadata: metadata)
        }
        return attempt
    }

    static func failure(_ error: any Error) -> WebhookFailure {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return .timeout
            case .connectTimeout: return .connection("connect timed out")
            case .tlsHandshakeTimeout: return .connection("TLS handshake timed out")
            case .remoteConnectionClosed: return .connection("the receiver closed the connection")
            case .bodyLengthMismatch: return .connection("the answer's length did not match its header")
            default: return .connection(error.description)
            }
        }
        if let error = error as? IOError { return .connection(error.description) }
        // TLS and other channel errors: their type names the cause without echoing anything sent.
        return .connection(String(describing: type(of: error)) + ": " + String(String(describing: error).prefix(200)))
    }
}

/// Exponential backoff with jitter for the delivery worker's retries: before retry `n` (1 for the
/// first retry) it waits a random time between half and all of `min(cap, base · 2^(n-1))`
/// ("equal jitter": never immediately, and receivers that failed together spread out).
public struct RetryBackoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration, cap: Duration) {
        precondition(base > .zero && cap >= base, "a backoff needs a positive base no larger than its cap")
        self.base = base
        self.cap = cap
    }

    /// The ceiling of retry `retry`'s delay, before jitter.
    public func ceiling(retry: Int) -> Duration {
        precondition(retry >= 1, "retries count from 1")
        let doublings = min(retry - 1, 62)
        let baseMilliseconds = base.milliseconds
        let scaled = baseMilliseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
        return .milliseconds(scaled.overflow ? cap.milliseconds : min(scaled.partialValue, cap.milliseconds))
    }

    /// The delay before retry `retry`, drawn from `random` (a seeded generator in tests).
    public func delay(retry: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(retry: retry).milliseconds
        return .milliseconds(Int64.random(in: (ceiling / 2)...ceiling, using: &random))
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
