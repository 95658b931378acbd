import Foundation
import WaymarkDomain

/// The events of a notification given up: `NotificationFailed`, and unless the notification was
/// itself about a failed delivery, an escalation to the operators' role with its own notification
/// (template `notification-delivery-failed`), so that someone hears of it.
enum DeliveryFailure {
    static let template = "notification-delivery-failed"

    static func events(
        _ request: NotificationEvent.Requested, failed: NotificationEvent.Failed, operatorsRole: String?, worker: String
    ) -> [(id: UUID, event: any DomainEvent)] {
        let id = request.notificationId
        var out: [(id: UUID, event: any DomainEvent)] = [(NotificationEvent.outcomeEventId(notificationId: id), NotificationEvent.failed(failed))]
        guard let operatorsRole, request.cause.kind != "delivery_failure" else { return out }
        let journey = request.journey
        let audit = DecisionAudit(
            rule: .notificationDelivery, deadlineId: id, definitionVersion: journey.definitionVersion, stage: journey.stage, department: journey.department,
            tier: journey.tier, since: request.requestedAt, dueAt: failed.failedAt, decidedAt: failed.failedAt, stale: false, instance: worker)
        let escalationEventId = DerivedUUID.of(Data("notification-failure-escalation:\(id)".utf8))
        let raised = JourneyEvent.EscalationRaised(
            escalationId: "notification-failed/\(id)", reason: .notificationFailed, goal: nil, level: 1, role: operatorsRole, action: .notify,
            queueOwner: nil, audit: audit)
        out.append((escalationEventId, JourneyEvent.escalationRaised(raised)))
        let recipient = NotificationRecipient.role(operatorsRole)
        let notice = NotificationEvent.Requested(
            notificationId: NotificationEvent.notificationId(cause: escalationEventId, recipient: recipient, template: template), recipient: recipient,
            template: template, locale: request.locale,
            variables: [
                "notification_id": .text(id), "template_name": .text(request.template), "endpoint": .text(failed.endpoint ?? failed.channel),
                "attempts": .text(String(failed.attempts)), "last_error": .text(failed.lastError),
            ],
            cause: NotificationEvent.Cause(eventId: escalationEventId, kind: "delivery_failure", reference: raised.escalationId), journey: journey,
            requestedAt: failed.failedAt)
        out.append((NotificationEvent.requestEventId(notificationId: notice.notificationId), NotificationEvent.requested(notice)))
        return out
    }
}
