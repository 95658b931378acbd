import Foundation

/// Rows for `COPY … FROM STDIN (FORMAT binary)`, written field by field into one buffer. Each
/// append names the column's type, and the field must match it exactly (an `integer` column takes
/// `append(integer:)`, a `bigint` one `append(bigint:)`): PostgreSQL refuses a field of the wrong
/// size with an error, never storing it. Times, numbers and arrays cross as the server keeps them,
/// so neither side formats nor parses them, which was a sixth of a read model's COPY on the server.
public struct CopyBinary: Sendable {
    /// The header, then the rows; `copyIn` adds the trailer.
    public private(set) var bytes: [UInt8] = Self.header
    public private(set) var rows = 0
    /// Where the current row's field count goes, once the row is complete.
    private var rowStart: Int?
    private var fields: Int16 = 0

    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    /// The end of the data: a row of -1 fields.
    public static let trailer: [UInt8] = [0xFF, 0xFF]

    public init() {}

    public var isEmpty: Bool { rows == 0 }

    public mutating func appendNull() {
        beginField()
        put(Int32(-1))
    }

    public mutating func append(_ text: String?) {
        guard let text else { return appendNull() }
        beginField()
        put(counted: text)
    }

    /// An `integer` (int4). A value out of its range goes as eight bytes, which the server refuses.
    public mutating func append(integer number: Int?) {
        guard let number else { return appendNull() }
        beginField()
        if let small = Int32(exactly: number) {
            put(Int32(4))
            put(small)
        } else {
            put(Int32(8))
            put(Int64(number))
        }
    }

    /// A `bigint` (int8).
    public mutating func append(bigint number: Int64?) {
        guard let number else { return appendNull() }
        beginField()
        put(Int32(8))
        put(number)
    }

    /// A `float8`.
    public mutating func append(float8 number: Double?) {
        guard let number else { return appendNull() }
        beginField()
        put(Int32(8))
        put(number.bitPattern)
    }

    /// A `boolean`.
    public mutating func append(_ flag: Bool?) {
        guard let flag else { return appendNull() }
        beginField()
        put(Int32(1))
        bytes.append(flag ? 1 : 0)
    }

    /// A `timestamptz`, to the nearest microsecond as `TimestampText` writes it.
    public mutating func append(_ date: Date?) {
        guard let date else { return appendNull() }
        beginField()
        put(Int32(8))
        put(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) - Self.postgresEpochMicros)
    }

    /// A `uuid`.
    public mutating func append(_ id: UUID?) {
        guard let id else { return appendNull() }
        beginField()
        put(Int32(16))
        withUnsafeBytes(of: id.uuid) { bytes.append(contentsOf: $0) }
    }

    /// An `interval` of whole seconds (no days or months, as `'n seconds'` reads).
    public mutating func append(intervalSeconds seconds: Int64?) {
        guard let seconds else { return appendNull() }
        beginField()
        put(Int32(16))
        put(seconds * 1_000_000)
        put(Int32(0))
        put(Int32(0))
    }

    /// A `text[]` of one dimension (or none, when empty), as PostgreSQL sends arrays.
    public mutating func append(textArray elements: [String]) {
        beginField()
        let lengthAt = bytes.count
        put(Int32(0))
        put(Int32(elements.isEmpty ? 0 : 1))
        put(Int32(0))
        put(Self.textOID)
        if !elements.isEmpty {
            put(Int32(elements.count))
            put(Int32(1))
        }
        for element in elements { put(counted: element) }
        let length = Int32(bytes.count - lengthAt - 4).bigEndian
        withUnsafeBytes(of: length) { raw in
            for index in 0..<4 { bytes[lengthAt + index] = raw[index] }
        }
    }

    public mutating func endRow() {
        if rowStart == nil { beginRow() }
        let count = fields.bigEndian
        withUnsafeBytes(of: count) { raw in
            bytes[rowStart!] = raw[0]
            bytes[rowStart! + 1] = raw[1]
        }
        rowStart = nil
        fields = 0
        rows += 1
    }

    private static let textOID: Int32 = 25
    /// 2000-01-01, PostgreSQL's epoch, in microseconds after 1970.
    private static let postgresEpochMicros: Int64 = 946_684_800_000_000

    private mutating func beginRow() {
        rowStart = bytes.count
        bytes.append(contentsOf: [0, 0])
    }

    private mutating func beginField() {
        if rowStart == nil { beginRow() }
        fields += 1
    }

    /// `text`'s UTF-8 bytes after their count, as a field or an array element goes.
    private mutating func put(counted text: String) {
        var text = text
        text.withUTF8 { utf8 in
            put(Int32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    private mutating func put<Integer: FixedWidthInteger>(_ value: Integer) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
