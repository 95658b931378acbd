import Foundation
import WaymarkErrors

/// Seals personal fields in stored events and opens them when read. Per-subject encryption (so
/// that erasing a subject deletes a key, not an event) plugs in here; without one, `PersonalData`
/// is stored as plain text.
public protocol PersonalDataSealing: Sendable {
    /// The stored form of `value`, a personal field of `subject` (a customer or consent subject id).
    func seal(_ value: String, subject: String) throws -> String
    /// The value of a stored field `seal` produced; the stored form names what opening it needs.
    func open(_ stored: String) throws -> String
}

/// The one place where the domain's events become stored JSON and back: one encoder configuration
/// (sorted keys, ISO 8601 dates), the fast decoder for the read side, and the hook where personal
/// fields are sealed and opened.
public struct EventCodec: Sendable {
    /// Plain text personal fields: what every process used before sealing existed.
    public static let standard = EventCodec()

    public let sealing: (any PersonalDataSealing)?

    public init(sealing: (any PersonalDataSealing)? = nil) {
        self.sealing = sealing
    }

    /// `payload` as stored JSON; its `PersonalData` fields sealed for `subject` when the codec seals.
    public func encode<Payload: Encodable>(_ payload: Payload, subject: String?) throws -> String {
        guard let sealing else { return String(decoding: try Self.plainEncoder.encode(payload), as: UTF8.self) }
        let encoder = Self.encoder()
        encoder.userInfo[.personalDataSealing] = PersonalDataSealingContext(sealing: sealing, subject: subject)
        return String(decoding: try encoder.encode(payload), as: UTF8.self)
    }

    /// The encoder of events without sealing, shared: encoding does not change it (swift-foundation's
    /// JSONEncoder is `Sendable`), and making one per event cost a busy client measurably.
    private static let plainEncoder = encoder()

    /// `Payload` from stored JSON, its sealed personal fields opened.
    public func decode<Payload: Decodable>(_ type: Payload.Type, from data: String) throws -> Payload {
        guard let sealing else { return try EventJSON.decode(type, from: data, fallback: Self.decoder) }
        // The fast decoder has no user info: sealed events take JSONDecoder's way.
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = EventDateText.decoding
        decoder.userInfo[.personalDataSealing] = PersonalDataSealingContext(sealing: sealing, subject: nil)
        return try decoder.decode(type, from: Data(data.utf8))
    }

    /// A new encoder of the stored form (JSONEncoder is not `Sendable`).
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = EventDateText.encoding
        return encoder
    }

    /// Decodes what the fast decoder leaves (dates); JSONDecoder is thread-safe.
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = EventDateText.decoding
        return decoder
    }()
}

/// What `PersonalData` finds in an encoder's or decoder's user info when the codec seals.
struct PersonalDataSealingContext: Sendable {
    var sealing: any PersonalDataSealing
    var subject: String?
}

extension CodingUserInfoKey {
    static let personalDataSealing = CodingUserInfoKey(rawValue: "waymark.personalDataSealing")!
}

/// An event the codec cannot store as asked.
public struct EventCodecError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case personalDataWithoutSubject = "personal_data_without_subject"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A personal field in an event of a stream whose decider names no subject: it cannot be
        /// sealed for anyone, so it is not stored at all.
        public static let personalDataWithoutSubject = Code(.personalDataWithoutSubject)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        /// A decider that carries personal data but names no subject: a fault to fix in code.
        public var kind: ErrorKind { .internal }
    }

    public var code: Code
    public var message: String

    static func withoutSubject(path: String) -> EventCodecError {
        EventCodecError(
            code: .personalDataWithoutSubject, message: "the personal field at \(path) belongs to no named subject, so it cannot be sealed")
    }
}

/// An event family of the domain (journey, customer, consent events, or an aggregate of another
/// module): its stored types and its stored form, through an `EventCodec`.
public protocol DomainEvent: Sendable {
    /// Every stored type `decode` knows: the events only the family's commands write.
    static var storedTypes: Set<String> { get }
    /// The stored type of this event.
    var type: String { get }
    /// The stored JSON, personal fields sealed for `subject`.
    func encode(with codec: EventCodec, subject: String?) throws -> String
    /// The event stored with `type` and `data`; nil for a type the family does not know.
    static func decode(type: String, data: String, codec: EventCodec) throws -> Self?
}

extension DomainEvent {
    /// The stored JSON with plain personal fields.
    public func data() throws -> String { try encode(with: .standard, subject: nil) }

    /// The event stored with `type` and `data` (plain personal fields); nil for a type the family
    /// does not know (an integration event appended raw).
    public static func decode(type: String, data: String) throws -> Self? { try decode(type: type, data: data, codec: .standard) }
}
