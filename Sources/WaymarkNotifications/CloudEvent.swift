import Foundation

/// A CloudEvents 1.0 event in the structured JSON format (`application/cloudevents+json`): the
/// required `specversion`, `id`, `source` and `type`, and the optional `subject`, `time`,
/// `datacontenttype` and `data` (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md).
public struct CloudEvent<Payload: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public static var mediaType: String { "application/cloudevents+json" }

    public var specversion: String
    /// Unique per `source`; for a notification its dedupe key, the same as `webhook-id`.
    public var id: String
    /// A URI reference naming the producer, e.g. `/waymark/acme-prod`.
    public var source: String
    /// Reverse-DNS, e.g. `io.waymark.notification.shipment-delay-apology`.
    public var type: String
    /// What the event is about within the source: the journey id.
    public var subject: String?
    /// RFC 3339, when the occurrence happened (the notification was requested), not the attempt.
    public var time: String?
    public var datacontenttype: String?
    public var data: Payload?

    public init(id: String, source: String, type: String, subject: String?, time: Date?, data: Payload?) {
        self.specversion = "1.0"
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = time.map(Self.rfc3339)
        self.datacontenttype = data == nil ? nil : "application/json"
        self.data = data
    }

    /// The JSON body, keys sorted so the same event always gives the same bytes (the signature
    /// covers these bytes; a retry resends them unchanged).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    static func rfc3339(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// What a notification's webhook carries as the CloudEvent's `data`.
public struct NotificationPayload: Codable, Sendable, Equatable {
    /// `role:<name>` or `customer`.
    public var recipient: String
    public var channel: String
    public var template: String
    /// The locale the message was rendered in (after fallback).
    public var locale: String
    /// The consent purpose a customer-facing message is sent under; nil for roles.
    public var purpose: String?
    /// The rendered message.
    public var message: String

    public init(recipient: String, channel: String, template: String, locale: String, purpose: String?, message: String) {
        self.recipient = recipient
        self.channel = channel
        self.template = template
        self.locale = locale
        self.purpose = purpose
        self.message = message
    }
}

extension CloudEvent where Payload == NotificationPayload {
    /// A notification's event: type `io.waymark.notification.<template>`, subject the journey.
    public static func notification(id: String, source: String, journeyID: String?, requestedAt: Date, payload: NotificationPayload) -> Self {
        Self(id: id, source: source, type: "io.waymark.notification.\(payload.template)", subject: journeyID, time: requestedAt, data: payload)
    }
}
