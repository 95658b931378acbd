import Foundation
import Testing
import WaymarkDomain
import WaymarkNotifications
import WaymarkTesting
import WaymarkWebhookReceiver

/// What a receiver's answer asks of the worker beyond "failed": wait (429 and 503 with
/// `Retry-After`), or stop (410 Gone).
@Suite(.scaledTimeLimit(minutes: 3)) struct ReceiverSignalsTests {
    @Test("a 429 with Retry-After puts the retry off that long, and a throttling endpoint's circuit stays closed")
    func throttledWaitsAsAsked() async throws {
        let fixture = try await DeliveryFixture.make()
        let reply: LoopbackReceiver.Answer = .reply { _, attempt in attempt == 1 ? (429, ["retry-after": "120"]) : (204, [:]) }
        try await LoopbackReceiver.run(secrets: [fixture.secret], answer: reply) { receiver, url in
            try await withHTTPClient { client in
                // One failure would open the circuit for ten minutes: a 429 must not.
                let options = DeliveryOptions(
                    backoff: RetryBackoff(base: .seconds(2), cap: .seconds(600)), circuitFailures: 1, circuitOpenFor: .seconds(600))
                let worker = try fixture.worker(fixture.settings(url: url), options: options, client: client)
                let request = try await fixture.request(.role("desk"))
                try await withServices([worker]) {
                    try await expectEventually { try await DeliveryWorkerTests.putOff(request.notificationId, fixture: fixture) }
                    let row = try #require(try await fixture.row(request.notificationId))
                    let wait = row.next.timeIntervalSince(fixture.time.now())
                    #expect(wait >= 119.99 && wait <= 120.01, "the retry waits \(wait) s, not the 120 s the receiver asked")
                    try await expectEventually {
                        if receiver.deliveries.count > 1 { return true }
                        if fixture.clock.sleepers > 0 { fixture.clock.advance(by: .seconds(120)) }
                        return false
                    }
                    try await expectEventually { try await fixture.outcome(of: request.notificationId) != nil }
                }
                guard case .delivered(let delivered) = try await fixture.outcome(of: request.notificationId) else {
                    Issue.record("not delivered after the pause the receiver asked for")
                    return
                }
                #expect(delivered.attempts == 2 && delivered.status == 204)
            }
        }
    }

    @Test("a 410 Gone is given up at once, without the retries a 500 would get, and the operators hear of it")
    func goneIsFinal() async throws {
        let fixture = try await DeliveryFixture.make()
        try await LoopbackReceiver.run(secrets: [fixture.secret], answer: .status(410)) { receiver, url in
            try await withHTTPClient { client in
                let options = DeliveryOptions(maxAttempts: 8, circuitFailures: 10)
                let worker = try fixture.worker(fixture.settings(url: url), options: options, client: client)
                let request = try await fixture.request(.role("desk"))
                try await withServices([worker]) {
                    try await expectEventually { try await fixture.outcome(of: request.notificationId) != nil }
                    try await expectEventually { try await !fixture.outcomes().escalations.isEmpty }
                }
                guard case .failed(let failed) = try await fixture.outcome(of: request.notificationId) else {
                    Issue.record("not failed")
                    return
                }
                #expect(failed.attempts == 1 && failed.lastStatus == 410 && failed.lastError.contains("gone"))
                #expect(try await fixture.outcomes().escalations.first?.reason == .notificationFailed)
                #expect(receiver.deliveries.count == 1)
            }
        }
    }

    @Test("Retry-After is read as seconds or as an HTTP date; anything else is ignored")
    func retryAfterForms() {
        let now = Date(timeIntervalSince1970: 1_445_412_420)  // Wed, 21 Oct 2015 07:27:00 GMT
        #expect(retryAfterDelay("120", now: now) == .seconds(120))
        #expect(retryAfterDelay(" 0 ", now: now) == .seconds(0))
        #expect(retryAfterDelay("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == .seconds(60))
        #expect(retryAfterDelay("Wed, 21 Oct 2015 07:00:00 GMT", now: now) == .zero)
        for unreadable in [nil, "", "-5", "soon", "1.5"] {
            #expect(retryAfterDelay(unreadable, now: now) == nil, "\(unreadable ?? "nil")")
        }
    }
}
