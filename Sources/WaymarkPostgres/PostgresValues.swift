import Foundation

/// A bind value in PostgreSQL's text format with the type the server should give it.
///
/// Values always travel as binds, separate from the SQL text. `typeOID` 0 lets the server infer the
/// type from the statement (used for strings, so that one `String` can feed a `text`, `jsonb` or
/// `uuid` parameter).
public struct PostgresBind: Sendable, Equatable {
    public var text: String?
    public var typeOID: UInt32

    public init(text: String?, typeOID: UInt32 = 0) {
        self.text = text
        self.typeOID = typeOID
    }

    public static let null = PostgresBind(text: nil)
}

/// A Swift value that can be sent as a bind.
public protocol PostgresEncodable: Sendable {
    var postgresBind: PostgresBind { get }
}

extension PostgresBind: PostgresEncodable {
    public var postgresBind: PostgresBind { self }
}

extension String: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: self) }
}
extension Substring: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: String(self)) }
}
extension Int: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: String(self), typeOID: 20) }
}
extension Int64: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: String(self), typeOID: 20) }
}
extension Int32: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: String(self), typeOID: 23) }
}
extension Int16: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: String(self), typeOID: 21) }
}
extension UInt64: PostgresEncodable {
    /// Sent untyped so that it can feed `numeric`, `int8` or `xid8` parameters.
    public var postgresBind: PostgresBind { PostgresBind(text: String(self)) }
}
extension Bool: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: self ? "t" : "f", typeOID: 16) }
}
extension Double: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: "\(self)", typeOID: 701) }
}
extension UUID: PostgresEncodable {
    public var postgresBind: PostgresBind { PostgresBind(text: lowercasedText, typeOID: 2950) }
}
extension Date: PostgresEncodable {
    /// Sent as ISO 8601 UTC text, typed `timestamptz`, to the nearest microsecond.
    public var postgresBind: PostgresBind {
        PostgresBind(text: TimestampText.iso8601(self), typeOID: 1184)
    }
}
extension Data: PostgresEncodable {
    public var postgresBind: PostgresBind {
        var bytes = [UInt8]()
        bytes.reserveCapacity(2 + count * 2)
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "x"))
        for byte in self {
            bytes.append(Hex.digits[Int(byte >> 4)])
            bytes.append(Hex.digits[Int(byte & 0x0f)])
        }
        return PostgresBind(text: String(decoding: bytes, as: UTF8.self), typeOID: 17)
    }
}
extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresBind: PostgresBind {
        switch self {
        case .none: return .null
        case .some(let value): return value.postgresBind
        }
    }
}

/// An array bind in PostgreSQL's array text format, untyped: cast it in SQL (`$1::uuid[]`).
///
/// Every element is double-quoted and escaped, so commas, braces, quotes and backslashes inside
/// elements are safe; `nil` elements are SQL NULLs.
public struct PostgresArray: PostgresEncodable {
    public var elements: [String?]

    public init(_ elements: [String?]) { self.elements = elements }
    public init(_ elements: [String]) { self.elements = elements }
    public init<T: PostgresEncodable>(values: [T]) { self.elements = values.map { $0.postgresBind.text } }

    public var postgresBind: PostgresBind {
        var out = [UInt8]()
        out.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        out.append(UInt8(ascii: "{"))
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard let element else {
                out.append(contentsOf: "NULL".utf8)
                continue
            }
            out.append(UInt8(ascii: "\""))
            Self.appendEscaped(element, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return PostgresBind(text: String(decoding: out, as: UTF8.self))
    }

    /// Appends `element` with `"` and `\` escaped, copying the runs between them whole (JSON
    /// elements hold many quotes, and a byte-by-byte copy was a visible share of a batch's cost).
    private static func appendEscaped(_ element: String, to out: inout [UInt8]) {
        var element = element
        element.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count where bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                out.append(UInt8(ascii: "\\"))
                start = index
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))
        }
    }
}

/// A Swift type that a text-format result column can be decoded into.
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL column value from its text form.
    static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Self
    /// The value for a NULL column; throws unless the type can represent NULL.
    static func decodeNull() throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull() throws -> Self {
        throw PostgresError(code: PostgresError.decodingFailure, message: "unexpected NULL for a non-optional \(Self.self)")
    }
}

struct DecodingMismatch: Error {
    var message: String
}

@inline(__always)
func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
    var index = 0
    var negative = false
    guard bytes.count > 0 else { return nil }
    if bytes[0] == UInt8(ascii: "-") {
        negative = true
        index = 1
    }
    guard index < bytes.count else { return nil }
    var value: Int64 = 0
    while index < bytes.count {
        let digit = bytes[index] &- UInt8(ascii: "0")
        guard digit < 10 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (a, o2) = negative ? m.subtractingReportingOverflow(Int64(digit)) : m.addingReportingOverflow(Int64(digit))
        if o1 || o2 { return nil }
        value = a
        index += 1
    }
    return value
}

extension String: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
extension Int64: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Int64 {
        guard let value = parseInteger(bytes) else { throw DecodingMismatch(message: "not an integer") }
        return value
    }
}
extension Int: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Int {
        Int(try Int64.decode(postgresText: bytes))
    }
}
extension Int32: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Int32 {
        guard let value = Int32(exactly: try Int64.decode(postgresText: bytes)) else { throw DecodingMismatch(message: "out of Int32 range") }
        return value
    }
}
extension UInt64: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> UInt64 {
        guard !bytes.isEmpty else { throw DecodingMismatch(message: "not an unsigned integer") }
        var value: UInt64 = 0
        for byte in bytes {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { throw DecodingMismatch(message: "not an unsigned integer") }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(digit))
            guard !o1, !o2 else { throw DecodingMismatch(message: "out of UInt64 range") }
            value = a
        }
        return value
    }
}
extension Bool: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Bool {
        guard bytes.count == 1 else { throw DecodingMismatch(message: "not a boolean") }
        switch bytes[0] {
        case UInt8(ascii: "t"): return true
        case UInt8(ascii: "f"): return false
        default: throw DecodingMismatch(message: "not a boolean")
        }
    }
}
extension Double: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Double {
        guard let value = Double(String(decoding: bytes, as: UTF8.self)) else { throw DecodingMismatch(message: "not a number") }
        return value
    }
}
extension UUID: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> UUID {
        guard let value = UUID(postgresText: bytes) else { throw DecodingMismatch(message: "not a UUID") }
        return value
    }
}
extension Data: PostgresDecodable {
    /// Decodes `bytea` in the default hex output format.
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Data {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x"), bytes.count % 2 == 0 else {
            throw DecodingMismatch(message: "not a hex-format bytea")
        }
        var data = Data(capacity: (bytes.count - 2) / 2)
        var invalid: UInt8 = 0
        var index = 2
        while index < bytes.count {
            let high = Hex.nibble(bytes[index])
            let low = Hex.nibble(bytes[index + 1])
            invalid |= high.invalid | low.invalid
            data.append(high.value << 4 | low.value)
            index += 2
        }
        guard invalid == 0 else { throw DecodingMismatch(message: "not a hex digit") }
        return data
    }
}
extension Date: PostgresDecodable {
    /// Decodes a `timestamptz` printed as ISO (`2026-11-23 16:12:22.123456+00`), any offset.
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Date {
        guard let date = parseTimestamp(bytes) else { throw DecodingMismatch(message: "not an ISO timestamptz") }
        return date
    }
}
extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> Wrapped? {
        try Wrapped.decode(postgresText: bytes)
    }
    public static func decodeNull() throws -> Wrapped? { nil }
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[[:]MM[:SS]]]` as PostgreSQL prints a `timestamptz`, and
/// the ISO form `TimestampText.iso8601` writes (`T` between date and time, `Z` for UTC, a year
/// past 9999 with more digits). The instant is built from its whole microseconds, as the log's
/// times are, so a time parsed here equals the same time read as microseconds.
func parseTimestamp(_ b: UnsafeBufferPointer<UInt8>) -> Date? {
    // A cursor struct, not nested functions over a captured index: a captured `var` is boxed and
    // every access to it checked for exclusivity at run time, a third of the parse.
    var text = TimestampCursor(bytes: b)
    var yearDigits = 4
    while yearDigits < 9, yearDigits < b.count, b[yearDigits] &- UInt8(ascii: "0") < 10 { yearDigits += 1 }
    guard let year = text.number(yearDigits), text.expect("-"), let month = text.number(2), text.expect("-"), let day = text.number(2),
        text.expect(" ") || text.expect("T"), let hour = text.number(2), text.expect(":"), let minute = text.number(2), text.expect(":"),
        let second = text.number(2)
    else { return nil }
    var i = text.index
    var micros = 0
    if i < b.count, b[i] == UInt8(ascii: ".") {
        i += 1
        var digits = 0
        var roundUp = false
        while i < b.count, b[i] &- UInt8(ascii: "0") < 10 {
            if digits < 6 { micros = micros * 10 + Int(b[i] - UInt8(ascii: "0")) }
            // Past six digits, to the nearest microsecond, as PostgreSQL reads such a text.
            if digits == 6 { roundUp = b[i] >= UInt8(ascii: "5") }
            digits += 1
            i += 1
        }
        if digits < 6 { for _ in digits..<6 { micros *= 10 } }
        if roundUp { micros += 1 }
    }
    text.index = i
    var offsetSeconds = 0
    if text.expect("Z") {
    } else if text.index < b.count {
        let sign: Int
        if b[text.index] == UInt8(ascii: "+") { sign = 1 } else if b[text.index] == UInt8(ascii: "-") { sign = -1 } else { return nil }
        text.index += 1
        guard let oh = text.number(2) else { return nil }
        var om = 0
        var os = 0
        if text.expect(":") {
            guard let m = text.number(2) else { return nil }
            om = m
        } else if let m = text.number(2) {
            // ISO 8601's basic form, +0200, which PostgreSQL reads too.
            om = m
        }
        if text.expect(":") {
            guard let s = text.number(2) else { return nil }
            os = s
        }
        offsetSeconds = sign * (oh * 3600 + om * 60 + os)
    }
    guard text.index == b.count else { return nil }
    // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian.
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146097 + doe - 719468
    let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offsetSeconds
    return Date(timeIntervalSince1970: Double(seconds * 1_000_000 + micros) / 1_000_000)
}

/// Where `parseTimestamp` has got to in its text.
private struct TimestampCursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    /// The decimal number in the next `width` bytes.
    mutating func number(_ width: Int) -> Int? {
        guard index + width <= bytes.count else { return nil }
        var value = 0
        for k in 0..<width {
            let digit = bytes[index + k] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int(digit)
        }
        index += width
        return value
    }

    /// Whether the next byte is `c`, which it then passes. A scalar, not a Character: a
    /// Character's ASCII value is looked up through String's machinery.
    mutating func expect(_ c: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: c) else { return false }
        index += 1
        return true
    }
}

extension String {
    /// Whether the text holds a NUL character, which PostgreSQL text cannot store (memchr over the
    /// UTF-8 bytes: every bind and every event body is checked).
    public var containsNUL: Bool {
        var copy = self
        return copy.withUTF8 { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return false }
            return memchr(base, 0, bytes.count) != nil
        }
    }
}
