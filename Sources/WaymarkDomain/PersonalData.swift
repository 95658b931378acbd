/// Text about a person (a name, an e-mail address, a phone number, a free-text comment). It sits
/// only in fields of this type, in a few event types, and never in stream names, ids or event
/// types, so that per-subject encryption can find exactly these fields. Its description hides the
/// value: logs and errors never show it.
public struct PersonalData: Sendable, Hashable, Codable, CustomStringConvertible {
    public var value: String

    public init(_ value: String) { self.value = value }

    public init(from decoder: any Decoder) throws {
        let stored = try decoder.singleValueContainer().decode(String.self)
        if let context = decoder.userInfo[.personalDataSealing] as? PersonalDataSealingContext {
            value = try context.sealing.open(stored)
        } else {
            value = stored
        }
    }

    /// Sealed for the encoding's subject when the `EventCodec` seals (see `PersonalDataSealing`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let context = encoder.userInfo[.personalDataSealing] as? PersonalDataSealingContext {
            guard let subject = context.subject else {
                throw EventCodecError.withoutSubject(path: encoder.codingPath.map(\.stringValue).joined(separator: "."))
            }
            try container.encode(try context.sealing.seal(value, subject: subject))
        } else {
            try container.encode(value)
        }
    }

    public var description: String { "<personal data, \(value.count) characters>" }
}
