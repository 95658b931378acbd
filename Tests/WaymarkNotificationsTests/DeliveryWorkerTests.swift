import AsyncHTTPClient
import Foundation
import Testing
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkTesting
import WaymarkWebhookReceiver

/// The delivery worker against a real PostgreSQL and a real receiver on loopback.
@Suite(.scaledTimeLimit(minutes: 3)) struct DeliveryWorkerTests {
    @Test("a role's notification reaches its webhook signed, once, and its delivery is recorded with the attempt count")
    func deliversARoleNotification() async throws {
        let fixture = try await DeliveryFixture.make()
        try await LoopbackReceiver.run(secrets: [fixture.secret]) { receiver, url in
            try await withHTTPClient { client in
                let worker = try fixture.worker(fixture.settings(url: url), client: client)
                let request = try await fixture.request(.role("desk"))
                try await withServices([worker]) {
                    try await expectEventually { try await fixture.outcome(of: request.notificationId) != nil }
                }
                let delivered = try #require(try await fixture.outcome(of: request.notificationId))
                guard case .delivered(let outcome) = delivered else {
                    Issue.record("not delivered: \(delivered)")
                    return
                }
                #expect(outcome.attempts == 1 && outcome.status == 204 && outcome.endpoint == "desk" && outcome.channel == "webhook")
                let seen = receiver.deliveries
                #expect(seen.count == 1 && seen[0].refusal == nil && seen[0].id == request.notificationId)
                let event = try JSONDecoder().decode(CloudEvent<NotificationPayload>.self, from: Data(seen[0].body))
                #expect(event.type == "io.waymark.notification.escalation-raised" && event.subject == "j-1")
                #expect(event.data?.message.contains("j-1") == true)
                #expect(try await fixture.row(request.notificationId)?.state == "delivered")
            }
        }
    }

    @Test("a receiver that fails twice gets retries with backoff, then the delivery counts three attempts")
    func retriesWithBackoff() async throws {
        let fixture = try await DeliveryFixture.make()
        try await LoopbackReceiver.run(secrets: [fixture.secret], answer: .script { _, attempt in attempt < 3 ? 500 : 200 }) { receiver, url in
            try await withHTTPClient { client in
                let options = DeliveryOptions(backoff: RetryBackoff(base: .seconds(4), cap: .seconds(60)))
                let worker = try fixture.worker(fixture.settings(url: url), options: options, client: client)
                let request = try await fixture.request(.role("desk"))
                try await withServices([worker]) {
                    try await Self.expectRetry(1, ceiling: 4, of: request.notificationId, fixture: fixture, receiver: receiver)
                    try await Self.expectRetry(2, ceiling: 8, of: request.notificationId, fixture: fixture, receiver: receiver)
                    try await expectEventually { try await fixture.outcome(of: request.notificationId) != nil }
                }
                guard case .delivered(let outcome) = try await fixture.outcome(of: request.notificationId) else {
                    Issue.record("not delivered")
                    return
                }
                #expect(outcome.attempts == 3 && outcome.status == 200)
                #expect(Set(receiver.deliveries.map(\.id)) == [request.notificationId])
            }
        }
    }

    /// After failed attempt `attempt`: the row is put off by half to all of `ceiling` seconds in the
    /// worker's time, and nothing more is sent until the clock gets there.
    static func expectRetry(_ attempt: Int, ceiling: Double, of id: String, fixture: DeliveryFixture, receiver: LoopbackReceiver) async throws {
        try await expectEventually { try await fixture.row(id)?.attempts == attempt && receiver.deliveries.count == attempt }
        try await expectEventually { try await Self.putOff(id, fixture: fixture) }
        let row = try #require(try await fixture.row(id))
        let wait = row.next.timeIntervalSince(fixture.time.now())
        #expect(wait >= ceiling / 2 - 0.01 && wait <= ceiling + 0.01, "retry \(attempt) waits \(wait) s")
        #expect(receiver.deliveries.count == attempt)
        // Moved on only while the worker sleeps on the clock: a wait it computed just before would
        // otherwise start after the move and run past it.
        try await expectEventually {
            // Looked at first: a move after the attempt would shorten the wait checked next.
            if receiver.deliveries.count > attempt { return true }
            if fixture.clock.sleepers > 0 { fixture.clock.advance(by: .seconds(ceiling)) }
            return false
        }
    }

    /// Whether `id` waits for a later attempt (its claim released).
    static func putOff(_ id: String, fixture: DeliveryFixture) async throws -> Bool {
        guard let row = try await fixture.row(id) else { return false }
        return row.next > fixture.time.now()
    }

    @Test("given up after the last attempt: NotificationFailed, an escalation to the operators' role and its notice in the log")
    func givesUpAndEscalates() async throws {
        let fixture = try await DeliveryFixture.make()
        let logs = CapturedLogs()
        try await LoopbackReceiver.run(secrets: [fixture.secret], answer: .status(503)) { receiver, url in
            try await withHTTPClient { client in
                let options = DeliveryOptions(maxAttempts: 2, backoff: RetryBackoff(base: .seconds(1), cap: .seconds(1)), circuitFailures: 10)
                let worker = try fixture.worker(fixture.settings(url: url), options: options, client: client, logger: logs.logger())
                let request = try await fixture.request(.role("desk"))
                try await withServices([worker]) {
                    try await expectEventually { receiver.deliveries.count == 1 }
                    try await expectEventually { try await Self.putOff(request.notificationId, fixture: fixture) }
                    try await expectEventually {
                        if receiver.deliveries.count > 1 { return true }
                        if fixture.clock.sleepers > 0 { fixture.clock.advance(by: .seconds(1)) }
                        return false
                    }
                    try await expectEventually { try await fixture.outcomes().notifications.count == 4 }
                    // The operators' notice goes to the log channel and is delivered there.
                    try await expectEventually { logs.all.contains { $0.contains("notification-delivery-failed") && $0.contains(request.notificationId) } }
                }
                let (notifications, escalations) = try await fixture.outcomes()
                guard case .failed(let failed) = notifications[1] else {
                    Issue.record("expected the failure second: \(notifications)")
                    return
                }
                #expect(failed.attempts == 2 && failed.lastStatus == 503 && failed.lastError == "HTTP 503" && failed.endpoint == "desk")
                let escalation = try #require(escalations.first)
                #expect(escalation.reason == .notificationFailed && escalation.role == "ops" && escalation.audit.deadlineId == request.notificationId)
                guard case .requested(let notice) = notifications[2], case .delivered(let noticeDelivered) = notifications[3] else {
                    Issue.record("expected the operators' notice, then its delivery: \(notifications)")
                    return
                }
                #expect(notice.recipient == .role("ops") && notice.template == "notification-delivery-failed" && notice.cause.kind == "delivery_failure")
                #expect(noticeDelivered.channel == "log" && noticeDelivered.notificationId == notice.notificationId)
                #expect(receiver.deliveries.count == 2)
            }
        }
    }

    @Test("a receiver that is down or too slow: each attempt fails with its reason, then the failure is recorded")
    func downOrSlowReceivers() async throws {
        let fixture = try await DeliveryFixture.make()
        let options = DeliveryOptions(maxAttempts: 1, circuitFailures: 10)
        // Nothing listens on the port of a receiver that has stopped.
        let downURL = try await LoopbackReceiver.run(secrets: [fixture.secret]) { _, url in url }
        try await withHTTPClient { client in
            let down = try await fixture.request(.role("desk"), journeyId: "down")
            try await withServices([try fixture.worker(fixture.settings(url: downURL), options: options, client: client)]) {
                try await expectEventually { try await fixture.outcome(of: down.notificationId, journeyId: "down") != nil }
            }
            guard case .failed(let failed) = try await fixture.outcome(of: down.notificationId, journeyId: "down") else {
                Issue.record("not failed")
                return
            }
            #expect(failed.lastError.hasPrefix("connection failed") && failed.lastStatus == nil)
        }
        try await LoopbackReceiver.run(secrets: [fixture.secret], answer: .stall) { receiver, url in
            try await withHTTPClient { client in
                let slow = try await fixture.request(.role("desk"), journeyId: "slow")
                let settings = fixture.settings(url: url, timeout: .milliseconds(300))
                try await withServices([try fixture.worker(settings, options: options, client: client, name: "w2")]) {
                    try await expectEventually { try await fixture.outcome(of: slow.notificationId, journeyId: "slow") != nil }
                }
                guard case .failed(let failed) = try await fixture.outcome(of: slow.notificationId, journeyId: "slow") else {
                    Issue.record("not failed")
                    return
                }
                #expect(failed.lastError == "timed out")
                #expect(receiver.deliveries.count == 1)
            }
        }
    }

    @Test("consent withdrawn between request and delivery: nothing is sent, and the suppression names the withdrawal")
    func consentWithdrawnBeforeDelivery() async throws {
        let fixture = try await DeliveryFixture.make()
        try await fixture.registerCustomer("c-1", name: "Ada Lovelace")
        try await fixture.registerCustomer("c-2", name: "Grace Hopper")
        _ = try await fixture.grant(subject: "c-1")
        _ = try await fixture.grant(subject: "c-2")
        let withdrawnRequest = try await fixture.request(.customer("c-1"), journeyId: "j-1")
        let withdrawal = try await fixture.withdraw(subject: "c-1")
        let permitted = try await fixture.request(.customer("c-2"), journeyId: "j-2")
        try await LoopbackReceiver.run(secrets: [fixture.secret]) { receiver, url in
            try await withHTTPClient { client in
                try await withServices([try fixture.worker(fixture.settings(url: url), client: client)]) {
                    try await expectEventually { try await fixture.outcome(of: withdrawnRequest.notificationId) != nil }
                    try await expectEventually { try await fixture.outcome(of: permitted.notificationId, journeyId: "j-2") != nil }
                }
                guard case .suppressed(let suppressed) = try await fixture.outcome(of: withdrawnRequest.notificationId) else {
                    Issue.record("not suppressed")
                    return
                }
                #expect(suppressed.reason == .withdrawn && suppressed.check == .atDelivery && suppressed.consentEventId == withdrawal)
                #expect(suppressed.subjectId == "c-1" && suppressed.purpose == "service-updates" && suppressed.contactChannel == "email")
                #expect(try await fixture.row(withdrawnRequest.notificationId)?.state == "suppressed")
                // Only the permitted one went out, greeting its customer by the name in the customer record.
                #expect(receiver.deliveries.map(\.id) == [permitted.notificationId])
                let event = try JSONDecoder().decode(CloudEvent<NotificationPayload>.self, from: Data(receiver.deliveries[0].body))
                #expect(event.data?.message.contains("Grace Hopper") == true)
            }
        }
    }

    @Test("a merged customer's notification follows the survivor's consent; never-asked is suppressed as no_consent")
    func mergedAndNeverAskedCustomers() async throws {
        let fixture = try await DeliveryFixture.make()
        try await fixture.registerCustomer("dup", name: "A. Lovelace")
        try await fixture.registerCustomer("main", name: "Ada Lovelace")
        try await fixture.store.append(
            to: CustomerDecider.streamName("dup"),
            events: [EventData(id: UUID(), type: "CustomerMergedInto", data: #"{"survivor":"main","externalIDs":[]}"#, metadata: EventMetadata(actor: "test"))])
        let grant = try await fixture.grant(subject: "main")
        let merged = try await fixture.request(.customer("dup"), journeyId: "j-1")
        let neverAsked = try await fixture.request(.customer("nobody"), journeyId: "j-2")
        try await LoopbackReceiver.run(secrets: [fixture.secret]) { receiver, url in
            try await withHTTPClient { client in
                try await withServices([try fixture.worker(fixture.settings(url: url), client: client)]) {
                    try await expectEventually { try await fixture.outcome(of: merged.notificationId) != nil }
                    try await expectEventually { try await fixture.outcome(of: neverAsked.notificationId, journeyId: "j-2") != nil }
                }
                #expect(receiver.deliveries.map(\.id) == [merged.notificationId])
                let event = try JSONDecoder().decode(CloudEvent<NotificationPayload>.self, from: Data(receiver.deliveries[0].body))
                #expect(event.data?.message.contains("Ada Lovelace") == true)
                guard case .suppressed(let suppressed) = try await fixture.outcome(of: neverAsked.notificationId, journeyId: "j-2") else {
                    Issue.record("not suppressed")
                    return
                }
                #expect(suppressed.reason == .noConsent && suppressed.consentEventId == nil)
                _ = grant
            }
        }
    }
}
