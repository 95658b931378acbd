import Foundation

extension JourneyEvent.EscalationRaised {
    /// The template an escalation's notification is rendered from (`config/templates/`).
    public static let notificationTemplate = "escalation-raised"

    /// The notification an escalation with action `notify` requests of its role, recorded with it
    /// in one append; nil for other actions and for a stale escalation (recorded, but it tells no
    /// one). `eventId` is the escalation event's id: the notification's cause.
    public func notificationRequest(eventId: UUID, journey: NotificationEvent.JourneyContext, locale: String) -> NotificationEvent.Requested? {
        guard action == .notify, !audit.stale else { return nil }
        let recipient = NotificationRecipient.role(role)
        return NotificationEvent.Requested(
            notificationId: NotificationEvent.notificationId(cause: eventId, recipient: recipient, template: Self.notificationTemplate),
            recipient: recipient, template: Self.notificationTemplate, locale: locale,
            variables: [
                "journey_id": .text(journey.journeyId), "journey_type": .text(journey.journeyType), "customer_tier": .text(journey.tier),
                "stage": .text(journey.stage), "reason": .text(reason.rawValue), "level": .text(String(level)),
                "escalated_at": .text(EventDateText.text(audit.decidedAt)),
            ],
            cause: NotificationEvent.Cause(eventId: eventId, kind: "escalation", reference: escalationId), journey: journey, requestedAt: audit.decidedAt)
    }
}

extension Deadline {
    /// The journey as this deadline was scheduled, for the notifications its firing requests.
    public var journeyContext: NotificationEvent.JourneyContext {
        NotificationEvent.JourneyContext(
            journeyId: journeyId, journeyType: journeyType ?? String(definitionVersion.prefix { $0 != "+" }), definitionVersion: definitionVersion,
            stage: stage, department: department, tier: tier)
    }
}
