import Foundation
import NIOHTTP1
import Synchronization
import Testing
import WaymarkServer
import WaymarkTesting

@Suite("HTTP API: who may do what", .scaledTimeLimit(minutes: 3))
struct AccessTests {
    /// Every operation that needs credentials, with the roles that may call it.
    static let operations: [(method: String, path: String, body: String?, roles: Set<ApiRole>)] = [
        ("POST", "/v1/journeys/j-a/commands", #"{"type":"complete"}"#, [.service]),
        ("POST", "/v1/customers/c-a/commands", #"{"type":"change-tier","tier":"standard"}"#, [.service]),
        ("POST", "/v1/subjects/s-a/consent-commands", #"{"type":"withdraw","purpose":"service-updates","channel":"email","proofReference":"p"}"#, [.service]),
        ("POST", "/v1/streams/shipment-a/events", #"{"events":[{"type":"ShipmentDelayed","data":{"delayHours":1}}]}"#, [.service]),
        ("GET", "/v1/streams/shipment-a/events", nil, [.service, .operator]),
        ("GET", "/v1/events", nil, [.operator]),
        ("GET", "/v1/categories/shipment/events", nil, [.operator]),
        ("GET", "/v1/events/live", nil, [.operator]),
        ("GET", "/v1/categories/shipment/events/live", nil, [.operator]),
        ("POST", "/v1/keys", #"{"role":"analyst"}"#, [.admin]),
        ("GET", "/v1/keys", nil, [.admin]),
        ("DELETE", "/v1/keys/0000000000000000", nil, [.admin]),
        ("GET", "/v1/journeys", nil, [.analyst, .operator]),
        ("GET", "/v1/journeys/j-a", nil, [.analyst, .operator]),
        ("POST", "/v1/journeys/j-a/escalations/e-1/acknowledgement", #"{"by":"dana"}"#, [.operator]),
        ("GET", "/v1/sla", nil, [.analyst, .operator]),
        ("GET", "/v1/escalations", nil, [.analyst, .operator]),
        ("GET", "/v1/subjects/s-1/consents", nil, [.analyst, .operator, .service]),
        ("GET", "/v1/projections", nil, [.operator]),
        ("POST", "/v1/projections/journeys/rebuild", nil, [.operator]),
        ("GET", "/v1/process-manager", nil, [.operator]),
        ("GET", "/metrics", nil, [.operator]),
    ]

    @Test("every operation against every role: 401 without a key or with a bad one, 403 for the wrong role, never a 5xx")
    func everyOperationEveryRole() async throws {
        try await ServerFixture.run { fixture in
            // Before any projection runner has built the views: unavailable, said plainly.
            let early = try await fixture.request(.GET, "/v1/journeys", key: fixture.key(.analyst))
            #expect(early.status == 503 && early.code == "views_not_built", "\(early.text)")
            try await fixture.catchUpProjections()
            for operation in Self.operations {
                let method = HTTPMethod(rawValue: operation.method)
                let anonymous = try await fixture.request(method, operation.path, key: nil, json: operation.body)
                #expect(anonymous.status == 401 && anonymous.code == "unauthorized", "\(operation.method) \(operation.path): \(anonymous.text)")
                #expect(anonymous.headers.first(name: "www-authenticate")?.hasPrefix("Bearer") == true)
                for bad in ["wmk_0000000000000000_nope", "not-a-key", fixture.key(.service) + "x"] {
                    let reply = try await fixture.request(method, operation.path, key: bad, json: operation.body)
                    #expect(reply.status == 401, "\(operation.method) \(operation.path) with \(bad): \(reply.text)")
                }
                for role in ApiRole.allCases {
                    // A live feed never ends: its head is all there is to see here.
                    let reply =
                        operation.path.hasSuffix("/live")
                        ? try await fixture.head(operation.path, key: fixture.key(role))
                        : try await fixture.request(method, operation.path, key: fixture.key(role), json: operation.body)
                    #expect(reply.status < 500, "\(operation.method) \(operation.path) as \(role): \(reply.status) \(reply.text)")
                    if operation.roles.contains(role) {
                        #expect(reply.status != 401 && reply.status != 403, "\(operation.method) \(operation.path) as \(role): \(reply.text)")
                    } else {
                        #expect(reply.status == 403 && reply.code == "forbidden", "\(operation.method) \(operation.path) as \(role): \(reply.text)")
                    }
                }
            }
        }
    }

    @Test("an admin makes a key, which works at once and is listed without its secret; revoked, it stops at once; expired keys never work")
    func keysLifecycle() async throws {
        try await ServerFixture.run { fixture in
            let made = try await fixture.request(
                .POST, "/v1/keys", key: fixture.key(.admin), json: #"{"role":"service","sourceSystem":"billing","label":"billing sync"}"#)
            #expect(made.status == 201, "\(made.text)")
            let secret = try #require(made.json["secret"] as? String)
            let keyId = try #require((made.json["key"] as? [String: Any])?["keyId"] as? String)
            #expect(secret.hasPrefix("wmk_\(keyId)_"))
            let used = try await fixture.request(
                .POST, "/v1/streams/shipment-b/events", key: secret, json: #"{"events":[{"type":"ShipmentDelayed","data":{"delayHours":1}}]}"#)
            #expect(used.status == 201, "\(used.text)")
            let listed = try await fixture.request(.GET, "/v1/keys", key: fixture.key(.admin))
            #expect(listed.status == 200 && listed.text.contains(keyId) && !listed.text.contains(String(secret.dropFirst(22))))
            // Not stored in the clear either.
            let stored = try await fixture.store.pool.query(
                "SELECT count(*)::int8 FROM api_keys WHERE secret_sha256 LIKE '%' || \(String(secret.suffix(20))) || '%'")
            #expect(try stored[0].decode(Int.self, at: 0) == 0)
            let revoked = try await fixture.request(.DELETE, "/v1/keys/\(keyId)", key: fixture.key(.admin))
            #expect(revoked.status == 204)
            let after = try await fixture.request(.GET, "/v1/streams/shipment-b/events", key: secret)
            #expect(after.status == 401 && after.code == "unauthorized", "\(after.text)")
            let unknown = try await fixture.request(.DELETE, "/v1/keys/ffffffffffffffff", key: fixture.key(.admin))
            #expect(unknown.status == 404 && unknown.code == "not_found")

            let past = try await fixture.request(.POST, "/v1/keys", key: fixture.key(.admin), json: #"{"role":"analyst","expiresAt":"2020-01-01T00:00:00Z"}"#)
            #expect(past.status == 400 && past.code == "invalid_value" && past.json["field"] as? String == "body.expiresAt", "\(past.text)")
            let (_, soon) = try await fixture.keyStore.create(
                role: .operator, sourceSystem: nil, label: nil, expiresAt: Date().addingTimeInterval(1), by: "test")
            let expiring = try await fixture.keyStore.authenticate(soon, now: Date().addingTimeInterval(2))
            #expect(expiring == nil)
            let boundAnalyst = try await fixture.request(.POST, "/v1/keys", key: fixture.key(.admin), json: #"{"role":"analyst","sourceSystem":"crm"}"#)
            #expect(boundAnalyst.status == 400 && boundAnalyst.code == "invalid_value", "\(boundAnalyst.text)")
        }
    }
}

@Suite("HTTP API: rate limits", .scaledTimeLimit(minutes: 3))
struct RateLimitTests {
    @Test("a key past its rate gets 429 with Retry-After, other keys go on, and the key goes again once its bucket refills")
    func perKey() async throws {
        let clock = Mutex<Double>(0)
        let limit = RateLimit(perSecond: 0.5, burst: 3) { clock.withLock { $0 } }
        try await ServerFixture.run(rateLimit: limit) { fixture in
            for _ in 0..<3 {
                #expect(try await fixture.request(.GET, "/v1/events", key: fixture.key(.operator)).status == 200)
            }
            let limited = try await fixture.request(.GET, "/v1/events", key: fixture.key(.operator))
            #expect(limited.status == 429 && limited.code == "rate_limited", "\(limited.text)")
            #expect(limited.headers.first(name: "retry-after") == "2", "\(limited.headers)")
            // Another key has its own bucket; requests without a key are not counted.
            #expect(try await fixture.request(.GET, "/v1/events", key: fixture.key(.service)).status == 403)
            #expect(try await fixture.request(.GET, "/healthz", key: nil).status == 200)
            #expect(try await fixture.request(.GET, "/healthz", key: fixture.key(.operator)).status == 200)
            // The route counts, not the path sent.
            #expect(try await fixture.request(.GET, "//v1/events", key: fixture.key(.operator)).status == 429)
            // A stale key sent to a public route does not lock it.
            #expect(try await fixture.request(.GET, "/readyz", key: "wmk_0000000000000000_stale").status == 200)
            clock.withLock { $0 += 2 }
            #expect(try await fixture.request(.GET, "/v1/events", key: fixture.key(.operator)).status == 200)
            #expect(try await fixture.request(.GET, "/v1/events", key: fixture.key(.operator)).status == 429)
        }
    }
}

@Suite("HTTP API: metrics", .scaledTimeLimit(minutes: 3))
struct MetricsTests {
    @Test("/metrics counts requests by route template, method and status, and times them, in Prometheus' text format")
    func counted() async throws {
        try await ServerFixture.run { fixture in
            _ = try await fixture.request(.POST, "/v1/journeys/j-m1/commands", key: fixture.key(.service), json: CommandRoutesTests.start)
            _ = try await fixture.request(.POST, "/v1/journeys/j-m2/commands", key: fixture.key(.service), json: #"{"type":"complete"}"#)
            _ = try await fixture.request(.GET, "/v1/nowhere", key: fixture.key(.service))
            let metrics = try await fixture.request(.GET, "/metrics", key: fixture.key(.operator))
            #expect(metrics.status == 200 && metrics.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = metrics.text
            #expect(text.contains(#"waymark_http_requests_total{route="/v1/journeys/{journeyId}/commands",method="POST",status="201"} 1"#), "\(text)")
            #expect(text.contains(#"waymark_http_requests_total{route="/v1/journeys/{journeyId}/commands",method="POST",status="404"} 1"#), "\(text)")
            #expect(text.contains("waymark_http_request_duration_seconds_bucket"), "\(text)")
            // The path a caller sent never becomes a label.
            #expect(!text.contains("j-m1") && !text.contains("nowhere"))
        }
    }
}
