import Foundation
import Testing
import WaymarkDomain

@Suite struct NotificationEventTests {
    static let journey = NotificationEvent.JourneyContext(
        journeyId: "J-1", journeyType: "order-to-cash", definitionVersion: "order-to-cash+0123456789abcdef", stage: "fulfilment",
        department: "fulfilment", tier: "strategic")

    static func escalation(action: JourneyDefinition.EscalationAction, stale: Bool) -> JourneyEvent.EscalationRaised {
        let at = Date(timeIntervalSince1970: 1_796_000_000)
        let audit = DecisionAudit(
            rule: .escalationLevel, deadlineId: "J-1/escalation/delivery/1", goal: "delivery", level: 1, definitionVersion: journey.definitionVersion,
            stage: "fulfilment", department: "fulfilment", tier: "strategic", since: at, dueAt: at, decidedAt: at.addingTimeInterval(stale ? 200_000 : 2),
            stale: stale, instance: "pm-1")
        return JourneyEvent.EscalationRaised(
            escalationId: "J-1/escalation/delivery/1", reason: .slaLadder, goal: "delivery", level: 1, role: "fulfilment-lead", action: action,
            queueOwner: nil, audit: audit)
    }

    @Test("an escalation with action notify requests its role's notification, with every variable its template declares; others and stale ones request none")
    func escalationsRequestNotifications() throws {
        let cause = UUID()
        let request = try #require(Self.escalation(action: .notify, stale: false).notificationRequest(eventId: cause, journey: Self.journey, locale: "de"))
        #expect(request.recipient == .role("fulfilment-lead") && request.template == "escalation-raised" && request.locale == "de")
        #expect(Set(request.variables.keys) == ["journey_id", "journey_type", "customer_tier", "stage", "reason", "level", "escalated_at"])
        #expect(request.variables["reason"] == .text("sla_ladder") && request.variables["journey_id"] == .text("J-1"))
        #expect(request.cause == NotificationEvent.Cause(eventId: cause, kind: "escalation", reference: "J-1/escalation/delivery/1"))
        #expect(request.purpose == nil && request.contactChannel == nil)
        // The same decision requests the same notification; another cause another one.
        #expect(
            Self.escalation(action: .notify, stale: false).notificationRequest(eventId: cause, journey: Self.journey, locale: "de")?.notificationId
                == request.notificationId)
        #expect(
            Self.escalation(action: .notify, stale: false).notificationRequest(eventId: UUID(), journey: Self.journey, locale: "de")?.notificationId
                != request.notificationId)
        #expect(request.notificationId.hasPrefix("ntf_") && !request.notificationId.contains("."))
        #expect(Self.escalation(action: .notify, stale: true).notificationRequest(eventId: cause, journey: Self.journey, locale: "en") == nil)
        #expect(Self.escalation(action: .reassign, stale: false).notificationRequest(eventId: cause, journey: Self.journey, locale: "en") == nil)
        #expect(Self.escalation(action: .raisePriority, stale: false).notificationRequest(eventId: cause, journey: Self.journey, locale: "en") == nil)
    }

    @Test("consent verdicts: a live grant permits and names itself; refusal, withdrawal, expiry and silence deny, naming what decided")
    func consentVerdicts() throws {
        let scope = ConsentScope(purpose: "service-updates", channel: "email")
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        func record(expires: Date? = nil) -> ConsentRecord {
            ConsentRecord(scope: scope, legalBasis: .consent, noticeVersion: "n1", collectionPoint: "web", proofReference: "p", expiresAt: expires)
        }
        let given = UUID()
        var state = ConsentState.evolve(ConsentState(), .given(record()), eventId: given)
        #expect(state.verdict(for: scope, at: now) == .permitted(by: given))
        #expect(state.verdict(for: ConsentScope(purpose: "service-updates", channel: "sms"), at: now) == .denied(.noConsent, by: nil))
        let withdrawn = UUID()
        let withdrawal = try #require(
            try ConsentEvent.decode(
                type: "ConsentWithdrawn", data: #"{"scope":{"purpose":"service-updates","channel":"email"},"proofReference":"p2"}"#, codec: .standard))
        state = ConsentState.evolve(state, withdrawal, eventId: withdrawn)
        #expect(state.verdict(for: scope, at: now) == .denied(.withdrawn, by: withdrawn))
        let refused = UUID()
        #expect(ConsentState.evolve(state, .refused(record()), eventId: refused).verdict(for: scope, at: now) == .denied(.refused, by: refused))
        let expiring = UUID()
        let expired = ConsentState.evolve(ConsentState(), .given(record(expires: now)), eventId: expiring)
        #expect(expired.verdict(for: scope, at: now) == .denied(.expired, by: expiring))
        #expect(expired.verdict(for: scope, at: now.addingTimeInterval(-1)) == .permitted(by: expiring))
    }

    @Test("the outbox events read back as written")
    func roundTrip() throws {
        let at = Date(timeIntervalSince1970: 1_796_000_000.25)
        let events: [NotificationEvent] = [
            .requested(
                .init(
                    notificationId: "ntf_1", recipient: .customer("c-1"), template: "csat-survey-invitation", locale: "en", purpose: "service-updates",
                    contactChannel: "email", variables: ["case_reference": .text("case-1"), "vip": .flag(true)],
                    cause: .init(eventId: UUID(), kind: "rule", reference: "csat@1"), journey: Self.journey, requestedAt: at)),
            .suppressed(
                .init(
                    notificationId: "ntf_1", reason: .withdrawn, check: .atDelivery, consentEventId: UUID(), subjectId: "c-1", purpose: "service-updates",
                    contactChannel: "email", decidedAt: at)),
            .delivered(.init(notificationId: "ntf_2", attempts: 3, channel: "webhook", endpoint: "desk", status: 204, deliveredAt: at)),
            .failed(.init(notificationId: "ntf_3", attempts: 8, channel: "webhook", endpoint: "desk", lastStatus: nil, lastError: "timed out", failedAt: at)),
        ]
        for event in events {
            let data = try event.encode(with: .standard, subject: nil)
            #expect(try NotificationEvent.decode(type: event.type, data: data, codec: .standard) == event)
            #expect(NotificationEvent.storedTypes.contains(event.type))
        }
        #expect(try NotificationEvent.decode(type: "JourneyStarted", data: "{}", codec: .standard) == nil)
    }
}
