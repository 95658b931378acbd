import Foundation
import WaymarkPostgres

/// Who and what caused an event. Stored with every event.
public struct EventMetadata: Sendable, Equatable, Codable {
    /// Ties together every event of one business flow (a journey, a request).
    public var correlationId: String?
    /// The event or command that directly caused this one.
    public var causationId: String?
    /// The user or service that acted.
    public var actor: String?
    /// The integrated system the fact came from (CRM, billing, …).
    public var sourceSystem: String?
    /// When the fact happened in the world, when that differs from when it was recorded (an
    /// integrated system reporting late, an import, a simulation). Stored as ISO 8601 UTC text with
    /// microseconds, so SQL reads it with `(metadata->>'occurred_at')::timestamptz`.
    public var occurredAt: Date?
    /// Further string key/values.
    public var extra: [String: String]

    public init(
        correlationId: String? = nil, causationId: String? = nil, actor: String? = nil, sourceSystem: String? = nil, occurredAt: Date? = nil,
        extra: [String: String] = [:]
    ) {
        self.correlationId = correlationId
        self.causationId = causationId
        self.actor = actor
        self.sourceSystem = sourceSystem
        self.occurredAt = occurredAt
        self.extra = extra
    }

    /// Metadata for an event caused by `event`: same correlation (or the event itself as the start of
    /// the flow), causation = the event.
    public static func causedBy(_ event: RecordedEvent, actor: String? = nil, sourceSystem: String? = nil) -> EventMetadata {
        EventMetadata(
            correlationId: event.metadata.correlationId ?? event.id.uuidString.lowercased(),
            causationId: event.id.uuidString.lowercased(), actor: actor, sourceSystem: sourceSystem)
    }

    /// The stored JSON object.
    var json: String {
        var out = "{"
        func field(_ key: String, _ value: String?) {
            guard let value else { return }
            if out.utf8.count > 1 { out += "," }
            out += key
            out += JSONText.quote(value)
        }
        field(#""correlation_id":"#, correlationId)
        field(#""causation_id":"#, causationId)
        field(#""actor":"#, actor)
        field(#""source_system":"#, sourceSystem)
        field(#""occurred_at":"#, occurredAt.map(TimestampText.iso8601))
        if !extra.isEmpty {
            if out.utf8.count > 1 { out += "," }
            out += #""extra":{"#
            for (index, pair) in extra.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { out += "," }
                out += JSONText.quote(pair.key) + ":" + JSONText.quote(pair.value)
            }
            out += "}"
        }
        return out + "}"
    }
}

/// JSON text written by hand where `JSONEncoder` would cost more than the work around it
/// (metadata on every append, event data and replies in the HTTP API).
public enum JSONText {
    /// A JSON string literal for `text`: quotes, backslashes and control characters escaped,
    /// everything else (slashes, non-ASCII) as it is.
    public static func quote(_ text: String) -> String {
        // Most metadata values need no escaping: copy them whole.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var out = "\""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
