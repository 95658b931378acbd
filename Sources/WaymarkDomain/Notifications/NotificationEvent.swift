import Foundation

/// Who a notification is for: a role (routed to a channel by `notifications.yaml`) or the customer,
/// the consent subject whose answers decide whether it may be sent.
public struct NotificationRecipient: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        case role
        case customer
    }
    public var kind: Kind
    /// The role's name, or the customer's id (their consent subject).
    public var id: String

    public static func role(_ name: String) -> NotificationRecipient { NotificationRecipient(kind: .role, id: name) }
    public static func customer(_ subjectId: String) -> NotificationRecipient { NotificationRecipient(kind: .customer, id: subjectId) }

    public var description: String { "\(kind.rawValue) \(id)" }
}

/// A template variable's value as requested: text or a flag for `{{#flag}}` sections. Never
/// personal data: the customer's name is looked up when the message is delivered, so a request in
/// the log holds nothing to erase.
public enum NotificationValue: Sendable, Equatable, Codable {
    case text(String)
    case flag(Bool)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) {
            self = .flag(flag)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .flag(let flag): try container.encode(flag)
        }
    }
}

/// The notification outbox, on the stream of the journey the notification is about: a request,
/// then exactly one of suppressed, delivered or failed. The delivery worker derives its work from
/// these events; `analytics.notifications` shows them.
public enum NotificationEvent: DomainEvent, Equatable {
    case requested(Requested)
    case suppressed(Suppressed)
    case delivered(Delivered)
    case failed(Failed)

    /// What caused a notification: the event that decided it and the rule or escalation behind it.
    public struct Cause: Sendable, Equatable, Codable {
        /// The id of the decision's event (an `EscalationRaised`, a rule's first event).
        public var eventId: UUID
        /// `escalation` (an escalation with action notify), `rule` (config/rules.yaml),
        /// `delivery_failure` (a notification that could not be delivered).
        public var kind: String
        /// The escalation's id, or the rule's id and version (`shipment-delay-recovery@3`).
        public var reference: String

        public init(eventId: UUID, kind: String, reference: String) {
            self.eventId = eventId
            self.kind = kind
            self.reference = reference
        }
    }

    public struct Requested: Sendable, Equatable, Codable {
        /// The dedupe key: the webhook's `webhook-id` and the CloudEvent's `id`, the same on every
        /// attempt. Derived from the cause, so a decision retried requests the same notification.
        public var notificationId: String
        public var recipient: NotificationRecipient
        public var template: String
        public var locale: String
        /// For a customer: the consent purpose and the contact channel (`email`, `sms`) it is
        /// checked for. Nil for a role.
        public var purpose: String?
        public var contactChannel: String?
        public var variables: [String: NotificationValue]
        public var cause: Cause
        /// The journey as the deciding rule saw it (for the audit and for an escalation if the
        /// notification cannot be delivered).
        public var journey: JourneyContext
        public var requestedAt: Date

        public init(
            notificationId: String, recipient: NotificationRecipient, template: String, locale: String, purpose: String? = nil, contactChannel: String? = nil,
            variables: [String: NotificationValue], cause: Cause, journey: JourneyContext, requestedAt: Date
        ) {
            self.notificationId = notificationId
            self.recipient = recipient
            self.template = template
            self.locale = locale
            self.purpose = purpose
            self.contactChannel = contactChannel
            self.variables = variables
            self.cause = cause
            self.journey = journey
            self.requestedAt = requestedAt
        }
    }

    public struct JourneyContext: Sendable, Equatable, Codable {
        public var journeyId: String
        public var journeyType: String
        public var definitionVersion: String
        public var stage: String
        public var department: String
        public var tier: String

        public init(journeyId: String, journeyType: String, definitionVersion: String, stage: String, department: String, tier: String) {
            self.journeyId = journeyId
            self.journeyType = journeyType
            self.definitionVersion = definitionVersion
            self.stage = stage
            self.department = department
            self.tier = tier
        }
    }

    /// Not sent, and why: provable from the consent event that decided it.
    public struct Suppressed: Sendable, Equatable, Codable {
        public enum Reason: String, Sendable, Codable, CaseIterable {
            /// The subject never answered for the purpose and channel.
            case noConsent = "no_consent"
            case refused
            case withdrawn
            case expired
        }
        public enum Check: String, Sendable, Codable {
            /// When the notification was requested (no `NotificationRequested` precedes it).
            case atRequest = "at_request"
            /// Right before delivery (consent changed after the request).
            case atDelivery = "at_delivery"
        }
        public var notificationId: String
        public var reason: Reason
        public var check: Check
        /// The subject's consent event that decided (nil for `no_consent`).
        public var consentEventId: UUID?
        public var subjectId: String
        public var purpose: String
        public var contactChannel: String
        /// Set when checked at request: what was requested, so the suppression is self-contained.
        public var template: String?
        public var cause: Cause?
        public var decidedAt: Date

        public init(
            notificationId: String, reason: Reason, check: Check, consentEventId: UUID?, subjectId: String, purpose: String, contactChannel: String,
            template: String? = nil, cause: Cause? = nil, decidedAt: Date
        ) {
            self.notificationId = notificationId
            self.reason = reason
            self.check = check
            self.consentEventId = consentEventId
            self.subjectId = subjectId
            self.purpose = purpose
            self.contactChannel = contactChannel
            self.template = template
            self.cause = cause
            self.decidedAt = decidedAt
        }
    }

    public struct Delivered: Sendable, Equatable, Codable {
        public var notificationId: String
        /// 1 when the first attempt succeeded.
        public var attempts: Int
        /// `webhook` or `log`.
        public var channel: String
        /// The webhook endpoint's name (nil for `log`).
        public var endpoint: String?
        /// The receiver's HTTP status (nil for `log`).
        public var status: Int?
        public var deliveredAt: Date

        public init(notificationId: String, attempts: Int, channel: String, endpoint: String?, status: Int?, deliveredAt: Date) {
            self.notificationId = notificationId
            self.attempts = attempts
            self.channel = channel
            self.endpoint = endpoint
            self.status = status
            self.deliveredAt = deliveredAt
        }
    }

    /// Given up after the last retry (or at once, for a fault no retry mends).
    public struct Failed: Sendable, Equatable, Codable {
        public var notificationId: String
        public var attempts: Int
        public var channel: String
        public var endpoint: String?
        /// The last attempt's HTTP status, if the receiver answered.
        public var lastStatus: Int?
        /// The last attempt's error (`timeout`, `connection refused`, `HTTP 500`, a render error).
        public var lastError: String
        public var failedAt: Date

        public init(notificationId: String, attempts: Int, channel: String, endpoint: String?, lastStatus: Int?, lastError: String, failedAt: Date) {
            self.notificationId = notificationId
            self.attempts = attempts
            self.channel = channel
            self.endpoint = endpoint
            self.lastStatus = lastStatus
            self.lastError = lastError
            self.failedAt = failedAt
        }
    }

    public var notificationId: String {
        switch self {
        case .requested(let event): return event.notificationId
        case .suppressed(let event): return event.notificationId
        case .delivered(let event): return event.notificationId
        case .failed(let event): return event.notificationId
        }
    }

    public var type: String {
        switch self {
        case .requested: return Self.requestedType
        case .suppressed: return "NotificationSuppressed"
        case .delivered: return "NotificationDelivered"
        case .failed: return "NotificationFailed"
        }
    }

    public func encode(with codec: EventCodec, subject: String?) throws -> String {
        switch self {
        case .requested(let payload): return try codec.encode(payload, subject: subject)
        case .suppressed(let payload): return try codec.encode(payload, subject: subject)
        case .delivered(let payload): return try codec.encode(payload, subject: subject)
        case .failed(let payload): return try codec.encode(payload, subject: subject)
        }
    }

    public static let requestedType = "NotificationRequested"
    public static let storedTypes: Set<String> = [requestedType, "NotificationSuppressed", "NotificationDelivered", "NotificationFailed"]

    public static func decode(type: String, data: String, codec: EventCodec) throws -> NotificationEvent? {
        switch type {
        case requestedType: return .requested(try codec.decode(Requested.self, from: data))
        case "NotificationSuppressed": return .suppressed(try codec.decode(Suppressed.self, from: data))
        case "NotificationDelivered": return .delivered(try codec.decode(Delivered.self, from: data))
        case "NotificationFailed": return .failed(try codec.decode(Failed.self, from: data))
        default: return nil
        }
    }

    /// A dedupe key derived from what caused the notification and to whom it goes: the same
    /// decision retried requests the same notification. `ntf_` and 32 hex digits (no `.`, as
    /// Standard Webhooks asks of an id).
    public static func notificationId(cause: UUID, recipient: NotificationRecipient, template: String) -> String {
        let uuid = DerivedUUID.of(Data("notification:\(cause.uuidString.lowercased()):\(recipient.kind.rawValue):\(recipient.id):\(template)".utf8))
        return "ntf_" + uuid.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }

    /// The id of the outcome event (suppressed at delivery, delivered or failed) of a notification:
    /// one outcome per notification, however many workers raced to record it.
    public static func outcomeEventId(notificationId: String) -> UUID {
        DerivedUUID.of(Data("notification-outcome:\(notificationId)".utf8))
    }

    /// The id of the request or suppression at request of a notification.
    public static func requestEventId(notificationId: String) -> UUID {
        DerivedUUID.of(Data("notification-request:\(notificationId)".utf8))
    }
}
