import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Requests per key: a token bucket per key id, `burst` deep, refilled at `perSecond`. A request
/// finding the bucket empty gets 429 with `Retry-After` (whole seconds until a token is back).
/// Per server process: several servers each allow a key this much.
public final class RateLimit: Sendable {
    public let perSecond: Double
    public let burst: Double
    /// Seconds on a monotonic clock (a fixed one in tests).
    let now: @Sendable () -> Double
    private let buckets = Mutex<[String: (tokens: Double, at: Double)]>([:])

    public init(perSecond: Double, burst: Int, now: @escaping @Sendable () -> Double = RateLimit.monotonicSeconds) {
        precondition(perSecond > 0 && burst >= 1, "a rate limit needs a positive rate and a burst of at least 1")
        self.perSecond = perSecond
        self.burst = Double(burst)
        self.now = now
    }

    public static func monotonicSeconds() -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    private static let start = ContinuousClock.now

    /// Takes a token for `key`; nil when it may go, else the seconds to wait.
    package func take(_ key: String) -> Int? {
        let now = self.now()
        return buckets.withLock { buckets in
            if buckets.count > 100_000 { buckets.removeAll() }
            var bucket = buckets[key] ?? (tokens: burst, at: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * perSecond)
            bucket.at = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up)))
        }
    }
}

/// Refuses a key's `/v1` request past its rate with `429 rate_limited` and `Retry-After`. Runs
/// after authentication: requests without a key are not counted (they get 401 or are public).
struct RateLimiting: RouterMiddleware {
    typealias Context = ApiContext
    let limit: RateLimit

    func handle(_ request: Request, context: ApiContext, next: (Request, ApiContext) async throws -> Response) async throws -> Response {
        // Health, readiness, the contract and the metrics answer whatever key comes along.
        // The route matched, not the path sent (`//v1/…` reaches the same route).
        if let principal = context.principal, context.endpointPath?.hasPrefix("/v1/") == true, let wait = limit.take(principal.keyId) {
            var response = Problem(
                ApiError(
                    .rateLimited,
                    "key \(principal.keyId) made more than \(limit.perSecond) requests a second (bursts of \(Int(limit.burst))); try again in \(wait) s"),
                instance: request.uri.path
            ).response()
            response.headers[.retryAfter] = "\(wait)"
            return response
        }
        return try await next(request, context)
    }
}
