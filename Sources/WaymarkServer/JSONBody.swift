import Foundation
import NIOCore
import WaymarkDomain
import WaymarkEventStore

/// A JSON value as a request carries it, so that a body is checked field by field: an unknown
/// field or a wrong type is refused with its path, rather than ignored or reported by a decoder's
/// message.
enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The JSON kind's name, for messages.
    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Parses a request body; `invalid_body` when it is not JSON.
    static func parse(_ buffer: ByteBuffer) throws -> JSONValue {
        guard buffer.readableBytes > 0 else { throw ApiError(.invalidBody, "the request has no body; it takes a JSON document", field: "body") }
        do {
            return try JSONParser.parse(buffer)
        } catch {
            throw ApiError(.invalidBody, "the body is not valid JSON", field: "body")
        }
    }

    /// Whether every number in the value is kept exactly: whole numbers up to 64 bits, and others
    /// as doubles, except a whole number past ±2^53 that only fit a double (it would change).
    var numbersKeptExactly: Bool {
        switch self {
        case .number(let value): return !(value.rounded() == value && abs(value) >= 9_007_199_254_740_992)
        case .array(let items): return items.allSatisfy(\.numbersKeptExactly)
        case .object(let fields): return fields.values.allSatisfy(\.numbersKeptExactly)
        default: return true
        }
    }

    /// The value as compact JSON text with sorted keys (an event's data as stored); slashes and
    /// non-ASCII characters as they are.
    var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        // Swift's shortest form that reads back the same double is valid JSON (`0.1`, `1e-07`).
        case .number(let value): out += value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        case .string(let value): out += JSONText.quote(value)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (index, key) in fields.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                out += JSONText.quote(key)
                out += ":"
                fields[key]!.write(into: &out)
            }
            out += "}"
        }
    }
}

/// The fields of one JSON object, read once each; `finish()` refuses any the reader did not ask for.
struct JSONObject {
    let path: String
    private let fields: [String: JSONValue]
    private var read: Set<String> = []

    init(_ value: JSONValue, path: String) throws {
        guard case .object(let fields) = value else { throw ApiError(.wrongType, "\(path) must be an object, not \(value.kind)", field: path) }
        self.path = path
        self.fields = fields
    }

    var keys: [String] { fields.keys.sorted() }

    /// The field's value; a null is returned as one, so that every reader refuses it as the
    /// wrong type: no field of this API takes null, and an absent field is left out.
    private mutating func value(_ key: String) -> JSONValue? {
        read.insert(key)
        return fields[key]
    }

    func fieldPath(_ key: String) -> String { "\(path).\(key)" }

    private func missing(_ key: String) -> ApiError { ApiError(.missingField, "\(fieldPath(key)) is required", field: fieldPath(key)) }

    private func wrong(_ key: String, _ expected: String, _ value: JSONValue) -> ApiError {
        ApiError(.wrongType, "\(fieldPath(key)) must be \(expected), not \(value.kind)", field: fieldPath(key))
    }

    mutating func optionalString(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw wrong(key, "a string", value) }
        return text
    }

    /// A required string, not empty.
    mutating func string(_ key: String) throws -> String {
        guard let text = try optionalString(key) else { throw missing(key) }
        guard !text.isEmpty else { throw ApiError(.invalidValue, "\(fieldPath(key)) must not be empty", field: fieldPath(key)) }
        return text
    }

    mutating func optionalInteger(_ key: String) throws -> Int64? {
        guard let value = value(key) else { return nil }
        guard case .integer(let number) = value else { throw wrong(key, "an integer", value) }
        return number
    }

    mutating func integer(_ key: String) throws -> Int64 {
        guard let number = try optionalInteger(key) else { throw missing(key) }
        return number
    }

    mutating func optionalObject(_ key: String) throws -> JSONObject? {
        guard let value = value(key) else { return nil }
        guard case .object = value else { throw wrong(key, "an object", value) }
        return try JSONObject(value, path: fieldPath(key))
    }

    /// Any JSON value (an event's data).
    mutating func anyValue(_ key: String) throws -> JSONValue {
        guard let value = value(key) else { throw missing(key) }
        return value
    }

    mutating func optionalArray(_ key: String) throws -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw wrong(key, "an array", value) }
        return items
    }

    /// An object of strings (`facts`, `extra` metadata); a null among them is refused, not dropped.
    mutating func optionalStringMap(_ key: String) throws -> [String: String]? {
        guard let object = try optionalObject(key) else { return nil }
        var map: [String: String] = [:]
        for (name, value) in object.fields {
            guard case .string(let text) = value else {
                throw ApiError(.wrongType, "\(object.fieldPath(name)) must be a string, not \(value.kind)", field: object.fieldPath(name))
            }
            map[name] = text
        }
        return map
    }

    mutating func optionalUUID(_ key: String) throws -> UUID? {
        guard let text = try optionalString(key) else { return nil }
        guard let id = UUID(uuidString: text) else {
            throw ApiError(.invalidValue, "\(fieldPath(key)) must be a UUID, not '\(text.prefix(64))'", field: fieldPath(key))
        }
        return id
    }

    /// An RFC 3339 timestamp with its offset (`2026-12-06T08:00:00Z`, fractions allowed).
    mutating func optionalTimestamp(_ key: String) throws -> Date? {
        guard let text = try optionalString(key) else { return nil }
        guard let date = Self.timestamp(text) else {
            throw ApiError(
                .invalidValue, "\(fieldPath(key)) must be an RFC 3339 timestamp with an offset (2026-12-06T08:00:00Z), not '\(text.prefix(64))'",
                field: fieldPath(key))
        }
        return date
    }

    static func timestamp(_ text: String) -> Date? { RFC3339.date(text) }

    /// Refuses any field not in `allowed`, naming it and the fields `what` takes.
    func refuseUnknown(allowed: [String], what: String) throws {
        let unknown = Set(fields.keys).subtracting(allowed).sorted()
        guard let first = unknown.first else { return }
        throw ApiError(
            .unknownField,
            "\(fieldPath(first)) is not a field of \(what)\(unknown.count > 1 ? " (nor \(unknown.dropFirst().joined(separator: ", ")))" : ""); its fields: \(allowed.joined(separator: ", "))",
            field: fieldPath(first))
    }

    /// Refuses the fields nobody read: a misspelt or unsupported field is an error, not a no-op.
    func finish() throws {
        let unknown = Set(fields.keys).subtracting(read).sorted()
        guard let first = unknown.first else { return }
        let known = read.sorted().joined(separator: ", ")
        throw ApiError(
            .unknownField,
            "\(fieldPath(first)) is not a field here\(unknown.count > 1 ? " (nor \(unknown.dropFirst().joined(separator: ", ")))" : ""); known fields: \(known)",
            field: fieldPath(first))
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (a header value's padding); cheaper than
    /// Foundation's `trimmingCharacters`, which goes through NSString.
    var trimmingSpaces: String {
        let isPadding: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isPadding($0) }), let last = lastIndex(where: { !isPadding($0) }) else { return "" }
        return String(self[first...last])
    }
}
