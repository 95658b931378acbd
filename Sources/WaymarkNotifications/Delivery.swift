import Foundation
import Logging
import WaymarkDomain
import WaymarkEventStore

/// One attempt at one claimed notification: consent checked again (customers), the recipient
/// routed, the message rendered and sent, and the outcome recorded: delivered, suppressed, given
/// up, or put off to a retry.
struct Delivery: Sendable {
    let table: DeliveryTable
    let recorder: OutcomeRecorder
    let settings: NotificationSettings
    let templates: NotificationTemplates
    let sender: WebhookSender
    let gates: [String: EndpointGate]
    let options: DeliveryOptions
    let time: WallTime
    let worker: String
    let logger: Logger

    var store: EventStore { table.store }
    var codec: EventCodec { table.codec }

    /// Never throws: a fault of the database leaves the claim to run out, and the notification is
    /// tried again then (at least once). `done` runs once the attempt no longer needs its place
    /// among the worker's deliveries in flight: when its outcome is handed to the recorder, which
    /// writes it with others (the place does not wait for that commit), or when it ends otherwise.
    func deliver(_ claimed: ClaimedDelivery, done: Once) async {
        defer { done.run() }
        do {
            try await attempt(claimed, done: done)
        } catch is CancellationError {
        } catch {
            logger.warning(
                "delivering a notification failed; it is tried again when its claim runs out",
                metadata: ["notification.id": "\(claimed.request.notificationId)", "waymark.error": "\(error)"])
        }
    }

    private func attempt(_ claimed: ClaimedDelivery, done: Once) async throws {
        let request = claimed.request
        var values = request.variables.mapValues(TemplateValue.init)
        if request.recipient.kind == .customer {
            let contact = try await CustomerContact.load(request.recipient.id, from: store, codec: codec)
            if let suppressed = try await consentRefuses(request, contact: contact) {
                try await close(
                    claimed, done: done, state: "suppressed", events: [(NotificationEvent.outcomeEventId(notificationId: request.notificationId), suppressed)])
                return
            }
            if values["customer_name"] == nil, templates.declarations[request.template]?.variables.contains("customer_name") == true {
                values["customer_name"] = .text(contact.name ?? "")
            }
        }
        let route: NotificationRoute
        let message: RenderedMessage
        do {
            route = try self.route(request.recipient)
            message = try templates.render(template: request.template, channel: route.channel, locale: request.locale, values: values)
        } catch let error as NotificationError {
            // The configuration cannot serve it: retrying unchanged fails the same way.
            try await giveUp(claimed, done: done, channel: "-", endpoint: nil, status: nil, error: "\(error.code.name): \(error.message)")
            return
        }
        switch route.channel {
        case .log:
            logger.info(
                "notification",
                metadata: [
                    "notification.id": "\(request.notificationId)", "notification.recipient": "\(request.recipient)",
                    "notification.template": "\(request.template)", "notification.locale": "\(message.locale)", "notification.message": "\(message.text)",
                ])
            try await deliver(claimed, done: done, channel: "log", endpoint: nil, status: nil)
        case .webhook:
            try await sendWebhook(claimed, done: done, message: message, endpointName: route.endpoint ?? "")
        }
    }

    private func route(_ recipient: NotificationRecipient) throws -> NotificationRoute {
        switch recipient.kind {
        case .role: return try settings.route(role: recipient.id)
        case .customer:
            guard let route = settings.customer else {
                throw NotificationError(.noRoute, "\(NotificationSettings.fileName) routes customer notifications nowhere ('customer' is not set)")
            }
            return route
        }
    }

    /// The suppression to record when the subject's consent no longer permits the notification.
    private func consentRefuses(_ request: NotificationEvent.Requested, contact: CustomerContact) async throws -> NotificationEvent? {
        let purpose = request.purpose ?? ""
        let channel = request.contactChannel ?? ""
        let now = time.now()
        let verdict = try await contact.consents(from: store, codec: codec).verdict(for: ConsentScope(purpose: purpose, channel: channel), at: now)
        guard case .denied(let reason, let decidedBy) = verdict else { return nil }
        return .suppressed(
            .init(
                notificationId: request.notificationId, reason: reason, check: .atDelivery, consentEventId: decidedBy, subjectId: contact.subjectId,
                purpose: purpose, contactChannel: channel, decidedAt: now))
    }

    private func sendWebhook(_ claimed: ClaimedDelivery, done: Once, message: RenderedMessage, endpointName: String) async throws {
        let request = claimed.request
        guard let endpoint = settings.endpoints[endpointName], let gate = gates[endpointName] else {
            try await giveUp(claimed, done: done, channel: "webhook", endpoint: endpointName, status: nil, error: "no endpoint '\(endpointName)' is configured")
            return
        }
        if case .deferred(let until) = await gate.admit(now: time.now()) {
            try await table.putOff(request.notificationId, to: until, counted: false)
            return
        }
        let event = CloudEvent.notification(
            id: request.notificationId, source: settings.source, journeyID: request.journey.journeyId, requestedAt: request.requestedAt,
            payload: NotificationPayload(
                recipient: request.recipient.description, channel: "webhook", template: request.template, locale: message.locale,
                purpose: request.purpose, message: message.text))
        let sent: WebhookAttempt
        do {
            sent = try await sender.send(event, to: endpoint, now: time.now())
        } catch {
            await gate.finish(.failed, now: time.now())
            throw error
        }
        switch sent.outcome {
        case .delivered(let status):
            await gate.finish(.succeeded, now: time.now())
            try await deliver(claimed, done: done, channel: "webhook", endpoint: endpoint.name, status: status)
        case .failed(let failure):
            await gate.finish(failure.isThrottled ? .throttled : .failed, now: time.now())
            var status: Int?
            if case .status(let code) = failure { status = code }
            if failure.isGone {
                try await giveUp(
                    claimed, done: done, channel: "webhook", endpoint: endpoint.name, status: status,
                    error: "\(failure.description): the endpoint is gone, so it is not tried again")
            } else if claimed.attempt >= options.maxAttempts {
                try await giveUp(claimed, done: done, channel: "webhook", endpoint: endpoint.name, status: status, error: failure.description)
            } else {
                var random = SystemRandomNumberGenerator()
                var delay = options.backoff.delay(retry: claimed.attempt, using: &random)
                // A receiver's own Retry-After is honoured, up to the backoff's cap.
                if let asked = sent.retryAfter { delay = max(delay, min(asked, options.backoff.cap)) }
                try await table.putOff(
                    request.notificationId, to: time.now().addingTimeInterval(WallTime.seconds(delay)), counted: true, status: status,
                    error: failure.description)
            }
        }
    }

    private func deliver(_ claimed: ClaimedDelivery, done: Once, channel: String, endpoint: String?, status: Int?) async throws {
        let delivered = NotificationEvent.delivered(
            .init(
                notificationId: claimed.request.notificationId, attempts: claimed.attempt, channel: channel, endpoint: endpoint, status: status,
                deliveredAt: time.now()))
        try await close(
            claimed, done: done, state: "delivered", events: [(NotificationEvent.outcomeEventId(notificationId: claimed.request.notificationId), delivered)])
    }

    private func giveUp(_ claimed: ClaimedDelivery, done: Once, channel: String, endpoint: String?, status: Int?, error: String) async throws {
        let failed = NotificationEvent.Failed(
            notificationId: claimed.request.notificationId, attempts: claimed.attempt, channel: channel, endpoint: endpoint, lastStatus: status,
            lastError: error, failedAt: time.now())
        logger.warning(
            "notification given up",
            metadata: ["notification.id": "\(failed.notificationId)", "notification.attempts": "\(failed.attempts)", "waymark.error": "\(error)"])
        let events = DeliveryFailure.events(claimed.request, failed: failed, operatorsRole: settings.operatorsRole, worker: worker)
        try await close(claimed, done: done, state: "failed", events: events, status: status, error: error)
    }

    private func close(
        _ claimed: ClaimedDelivery, done: Once, state: String, events: [(id: UUID, event: any DomainEvent)], status: Int? = nil, error: String? = nil
    ) async throws {
        done.run()
        let metadata = EventMetadata(
            correlationId: claimed.request.journey.journeyId, causationId: claimed.request.notificationId, actor: "notifications", sourceSystem: "waymark",
            occurredAt: time.now(), extra: [ClosedRows.workerKey: worker])
        try await recorder.record(Outcome(claimed: claimed, state: state, events: events, metadata: metadata, status: status, error: error, now: time.now()))
    }
}

extension TemplateValue {
    public init(_ value: NotificationValue) {
        switch value {
        case .text(let text): self = .text(text)
        case .flag(let flag): self = .flag(flag)
        }
    }
}
