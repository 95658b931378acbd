import Foundation
import WaymarkPostgres

/// What the writer expects a stream's version (its number of events) to be before an append.
public enum ExpectedVersion: Sendable, Equatable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must exist (hold at least one event).
    case streamExists
    /// The stream must hold exactly this many events (0 is the same as `noStream`).
    case exact(Int64)

    var sqlKind: String {
        switch self {
        case .any: return "any"
        case .noStream: return "no_stream"
        case .streamExists: return "exists"
        case .exact: return "exact"
        }
    }

    var sqlVersion: Int64? {
        if case .exact(let version) = self { return version }
        return nil
    }

    public var description: String {
        switch self {
        case .any: return "any"
        case .noStream: return "no stream"
        case .streamExists: return "stream exists"
        case .exact(let version): return String(version)
        }
    }
}

/// A place in the global log: events are ordered by the id of the transaction that wrote them,
/// then by their sequence number. Readers never see a transaction before all older ones finished.
public struct GlobalPosition: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var transactionId: UInt64
    public var sequence: Int64

    public init(transactionId: UInt64, sequence: Int64) {
        self.transactionId = transactionId
        self.sequence = sequence
    }

    /// Before the first event.
    public static let start = GlobalPosition(transactionId: 0, sequence: 0)

    public static func < (lhs: GlobalPosition, rhs: GlobalPosition) -> Bool {
        (lhs.transactionId, lhs.sequence) < (rhs.transactionId, rhs.sequence)
    }

    /// `transactionId:sequence`, as printed and parsed by the CLI.
    public var description: String { "\(transactionId):\(sequence)" }

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let transactionId = UInt64(parts[0]), let sequence = Int64(parts[1]), sequence >= 0 else { return nil }
        self.init(transactionId: transactionId, sequence: sequence)
    }
}

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
    /// Further string key/values.
    public var extra: [String: String]

    public init(correlationId: String? = nil, causationId: String? = nil, actor: String? = nil, sourceSystem: String? = nil, extra: [String: String] = [:]) {
        self.correlationId = correlationId
        self.causationId = causationId
        self.actor = actor
        self.sourceSystem = sourceSystem
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

enum JSONText {
    /// A JSON string literal for `text`.
    static func quote(_ text: String) -> String {
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
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// An event to append.
public struct EventData: Sendable, Equatable {
    /// The event's unique id; resending the same id makes an append idempotent. New events get a
    /// time-ordered (version 7) UUID unless the caller brings its own id.
    public var id: UUID
    public var type: String
    /// The event body as JSON text.
    public var data: String
    public var metadata: EventMetadata

    public init(id: UUID = .timeOrdered(), type: String, data: String, metadata: EventMetadata = EventMetadata()) {
        self.id = id
        self.type = type
        self.data = data
        self.metadata = metadata
    }

    /// Encodes `payload` with `JSONEncoder` (dates as ISO 8601).
    public init<Payload: Encodable>(id: UUID = .timeOrdered(), type: String, payload: Payload, metadata: EventMetadata = EventMetadata()) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        self.init(id: id, type: type, data: String(decoding: try encoder.encode(payload), as: UTF8.self), metadata: metadata)
    }
}

/// An event as stored.
public struct RecordedEvent: Sendable, Equatable {
    public var id: UUID
    public var streamName: String
    /// 1 for a stream's first event.
    public var streamVersion: Int64
    public var position: GlobalPosition
    public var type: String
    /// The event body as JSON text (as PostgreSQL's jsonb prints it).
    public var data: String
    public var metadata: EventMetadata
    public var recordedAt: Date

    /// The stream name's prefix before the first `-`.
    public var category: String { EventStore.category(of: streamName) }

    /// Decodes `data` with `JSONDecoder` (dates as ISO 8601).
    public func decode<Payload: Decodable>(_ type: Payload.Type = Payload.self) throws -> Payload {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(data.utf8))
    }
}

/// Where one appended event landed.
public struct AppendedEvent: Sendable, Equatable {
    public var id: UUID
    public var streamVersion: Int64
    public var position: GlobalPosition
}

/// The outcome of an append.
public struct AppendResult: Sendable, Equatable {
    public var streamName: String
    public var events: [AppendedEvent]
    /// True when the batch had been appended before and this call only returned its positions.
    public var replayed: Bool
    /// The stream's version after the batch: expect this on the next append.
    public var streamVersion: Int64 { events.last?.streamVersion ?? 0 }
}

/// An append's expected version did not match the stream.
public struct WrongExpectedVersionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code = "wrong_expected_version"
    public var streamName: String
    public var expected: ExpectedVersion
    /// The stream's version when the append was refused; 0 when the stream does not exist.
    public var actualVersion: Int64

    public init(streamName: String, expected: ExpectedVersion, actualVersion: Int64) {
        self.streamName = streamName
        self.expected = expected
        self.actualVersion = actualVersion
    }

    public var message: String {
        "wrong expected version for stream \(streamName): expected \(expected), actual \(actualVersion == 0 ? "no stream" : String(actualVersion))"
    }
    public var description: String { message }
}

/// A refused request to the event store.
public struct EventStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A stream name, event type, expected version or batch that breaks the rules.
        case invalidInput = "invalid_input"
        /// Event data that is not valid JSON.
        case invalidEventData = "invalid_event_data"
        /// Event ids that were already used in a different way.
        case idempotencyConflict = "idempotency_conflict"
        /// An attempt to change or delete stored events.
        case immutable = "events_immutable"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A page of one stream.
public struct StreamSlice: Sendable {
    public var streamName: String
    public var events: [RecordedEvent]
    /// The version to continue from, or nil when the read reached the end (or start) of the stream.
    public var nextVersion: Int64?
    public var isEnd: Bool { nextVersion == nil }
}

/// A page of the global log or a category.
public struct GlobalSlice: Sendable {
    public var events: [RecordedEvent]
    /// Read the next page after this position.
    public var nextPosition: GlobalPosition
    /// True when fewer events than asked for were readable: caught up for now.
    public var isEnd: Bool
}

public enum ReadDirection: String, Sendable {
    case forward
    case backward
}
