import AsyncHTTPClient
import Foundation
import Logging
import Testing
import WaymarkNotifications
import WaymarkTesting
import WaymarkWebhookReceiver

/// The sender against a real receiver on loopback that verifies every signature.
@Suite struct WebhookSenderTests {
    static let event = CloudEvent.notification(
        id: "ntf_7f3a9c", source: "/waymark/test", journeyID: "journey-1", requestedAt: Date(timeIntervalSince1970: 1_765_000_000),
        payload: NotificationPayload(
            recipient: "role:fulfilment-lead", channel: "webhook", template: "escalation-raised", locale: "en", purpose: nil, message: "Escalation level 1"))

    /// Sends `event` once to `url` with `secret`, logging into `logs`.
    static func send(to url: URL, secret: WebhookSecret, timeout: Duration = .seconds(60), logs: CapturedLogs) async throws -> WebhookAttempt {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: WebhookSender.clientConfiguration())
        let sender = WebhookSender(client: client, logger: logs.logger())
        let endpoint = WebhookEndpoint(name: "test-desk", url: url, secrets: [secret], timeout: timeout, concurrency: 2)
        do {
            let attempt = try await sender.send(event, to: endpoint, now: Date())
            try await client.shutdown()
            // Nothing a person or a log can see holds the secret.
            let key = String(secret.serialized().dropFirst(WebhookSecret.prefix.count))
            for text in logs.all + [attempt.outcome.description, "\(attempt)", endpoint.description, String(reflecting: endpoint)] {
                #expect(!text.contains(key), "the secret shows in: \(text)")
            }
            return attempt
        } catch {
            try await client.shutdown()
            throw error
        }
    }

    @Test("a 2xx receiver gets the signed CloudEvent and the attempt is delivered") func deliversASignedCloudEvent() async throws {
        let secret = WebhookSecret.random()
        let logs = CapturedLogs()
        let (attempt, deliveries) = try await LoopbackReceiver.run(secrets: [secret]) { receiver, url in
            (try await Self.send(to: url, secret: secret, logs: logs), receiver.deliveries)
        }
        #expect(attempt.outcome == .delivered(status: 204))
        let delivery = try #require(deliveries.first)
        #expect(deliveries.count == 1)
        #expect(delivery.refusal == nil)
        #expect(delivery.id == "ntf_7f3a9c")
        #expect(delivery.contentType == "application/cloudevents+json")
        #expect(try JSONDecoder().decode(CloudEvent<NotificationPayload>.self, from: Data(delivery.body)) == Self.event)
        #expect(logs.all.contains { $0.contains("webhook delivered") && $0.contains("webhook.id=ntf_7f3a9c") })
    }

    @Test("a receiver answering 500 is a failure with its status") func aReceiverAnswering500IsAFailureWithItsStatus() async throws {
        let secret = WebhookSecret.random()
        let logs = CapturedLogs()
        let (attempt, deliveries) = try await LoopbackReceiver.run(secrets: [secret], answer: .status(500)) { receiver, url in
            (try await Self.send(to: url, secret: secret, logs: logs), receiver.deliveries)
        }
        #expect(attempt.outcome == .failed(.status(500)))
        #expect(deliveries.map(\.refusal) == [nil])
        #expect(logs.all.contains { $0.hasPrefix("notice webhook attempt failed") && $0.contains("HTTP 500") })
    }

    @Test("a receiver slower than the endpoint's timeout is a timeout") func aReceiverSlowerThanTheTimeoutTimesOut() async throws {
        let secret = WebhookSecret.random()
        let (attempt, deliveries) = try await LoopbackReceiver.run(secrets: [secret], answer: .stall) { receiver, url in
            (try await Self.send(to: url, secret: secret, timeout: .seconds(1), logs: CapturedLogs()), receiver.deliveries)
        }
        #expect(attempt.outcome == .failed(.timeout))
        // The receiver holds the request until this closure returns, so an answer before that is the timeout's.
        #expect(attempt.duration >= .seconds(1))
        // What reached the receiver verified: only the answer was late. (On a loaded machine the
        // request may not even have arrived within the second, so its arrival is not required.)
        #expect(deliveries.allSatisfy { $0.refusal == nil })
    }

    @Test("a port with nothing listening is a connection failure, not a wait for the timeout") func aPortWithNothingListeningIsAConnectionFailure() async throws
    {
        let secret = WebhookSecret.random()
        // A port that was just listening and is closed now.
        let url = try await LoopbackReceiver.run(secrets: [secret]) { _, url in url }
        let attempt = try await Self.send(to: url, secret: secret, logs: CapturedLogs())
        guard case .failed(.connection) = attempt.outcome else {
            Issue.record("expected a connection failure, got \(attempt.outcome)")
            return
        }
    }

    @Test("a delivery signed with the wrong secret is refused by the receiver") func theReceiverRefusesAWrongSecret() async throws {
        let logs = CapturedLogs()
        let sent = WebhookSecret.random()
        let (attempt, deliveries) = try await LoopbackReceiver.run(secrets: [WebhookSecret.random()]) { receiver, url in
            (try await Self.send(to: url, secret: sent, logs: logs), receiver.deliveries)
        }
        #expect(attempt.outcome == .failed(.status(401)))
        #expect(deliveries.map(\.refusal) == [.signatureMismatch])
    }

    @Test("an https URL speaks TLS: nothing reaches a plain-HTTP receiver") func anHTTPSURLSpeaksTLS() async throws {
        let secret = WebhookSecret.random()
        // The receiver speaks plain HTTP: a client that honours https must fail the handshake
        // rather than send the event in the clear.
        let (attempt, deliveries) = try await LoopbackReceiver.run(secrets: [secret]) { receiver, url in
            let tls = URL(string: url.absoluteString.replacingOccurrences(of: "http://", with: "https://"))!
            return (try await Self.send(to: tls, secret: secret, logs: CapturedLogs()), receiver.deliveries)
        }
        guard case .failed(.connection) = attempt.outcome else {
            Issue.record("expected a TLS failure, got \(attempt.outcome)")
            return
        }
        #expect(deliveries.isEmpty)
    }
}

@Suite struct RetryBackoffTests {
    /// SplitMix64: a seeded source, so a test's draws repeat.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("backoff delays double up to the cap, within their jitter bounds") func delaysGrowExponentiallyWithinJitterBoundsUpToTheCap() {
        let backoff = RetryBackoff(base: .milliseconds(500), cap: .seconds(60))
        #expect((1...9).map { backoff.ceiling(retry: $0) } == [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000].map { .milliseconds($0) })
        #expect(backoff.ceiling(retry: 500) == .seconds(60))
        var random = Seeded(state: 7)
        for retry in 1...40 {
            let ceiling = backoff.ceiling(retry: retry)
            for _ in 0..<50 {
                let delay = backoff.delay(retry: retry, using: &random)
                #expect(delay >= ceiling / 2 && delay <= ceiling)
            }
        }
    }

    @Test("backoff jitter comes from the injected random source") func jitterComesFromTheInjectedSource() {
        let backoff = RetryBackoff(base: .seconds(1), cap: .seconds(3600))
        func draws(_ seed: UInt64) -> [Duration] {
            var random = Seeded(state: seed)
            return (1...10).map { backoff.delay(retry: $0, using: &random) }
        }
        #expect(draws(1) == draws(1))
        #expect(draws(1) != draws(2))
        // Spread: ten draws for one retry are not all the same.
        var random = Seeded(state: 3)
        #expect(Set((0..<10).map { _ in backoff.delay(retry: 5, using: &random) }).count > 5)
    }
}
