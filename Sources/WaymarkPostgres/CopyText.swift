import Foundation

/// Rows for `COPY … FROM STDIN` in PostgreSQL's text format, written field by field straight into
/// one buffer: no string per field and no array per row, which is what a projection batch of
/// hundreds of thousands of fields spent its time on. Fields of a row are appended in column
/// order; `endRow()` closes each row.
public struct CopyText: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var rows = 0
    private var rowStarted = false

    public init() {}

    /// The rows of `fields`, each a row's fields in column order (nil is NULL).
    public init(_ fields: [[String?]]) {
        for row in fields {
            for field in row { append(field) }
            endRow()
        }
    }

    public var isEmpty: Bool { rows == 0 }

    /// Empties it, keeping its buffer for the next rows.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        rows = 0
        rowStarted = false
    }

    private mutating func separate() {
        if rowStarted { bytes.append(UInt8(ascii: "\t")) }
        rowStarted = true
    }

    public mutating func appendNull() {
        separate()
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "N"))
    }

    /// Text, with backslash, tab, newline and carriage return escaped.
    public mutating func append(_ text: String?) {
        guard let text else { return appendNull() }
        separate()
        // Most fields need no escape: copied whole.
        let copied = text.utf8.withContiguousStorageIfAvailable { utf8 in
            guard
                !utf8.contains(where: {
                    $0 == UInt8(ascii: "\\") || $0 < 0x0E && ($0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r"))
                })
            else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if copied == true { return }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            default: bytes.append(byte)
            }
        }
    }

    /// A `text[]`: each element quoted, so any text goes.
    public mutating func append(textArray elements: [String]) {
        var literal = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            literal += "\""
            for character in element.unicodeScalars {
                if character == "\"" || character == "\\" { literal += "\\" }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        append(literal + "}")
    }

    public mutating func append(_ number: Int?) {
        guard let number else { return appendNull() }
        separate()
        appendDigits(Int64(number))
    }

    public mutating func append(_ number: Int64?) {
        guard let number else { return appendNull() }
        separate()
        appendDigits(number)
    }

    /// A `float8`, in the shortest form that reads back as the same value.
    public mutating func append(_ number: Double?) {
        guard let number else { return appendNull() }
        separate()
        bytes.append(contentsOf: number.description.utf8)
    }

    public mutating func append(_ flag: Bool?) {
        guard let flag else { return appendNull() }
        separate()
        bytes.append(flag ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    /// A `timestamptz`, as `TimestampText` writes it (UTC, microseconds).
    public mutating func append(_ date: Date?) {
        guard let date else { return appendNull() }
        separate()
        TimestampText.write(date, into: &bytes)
    }

    /// A `uuid`, in the lower-case form PostgreSQL prints.
    public mutating func append(_ id: UUID?) {
        guard let id else { return appendNull() }
        separate()
        bytes.append(contentsOf: id.lowercasedText.utf8)
    }

    /// An `interval` of whole seconds.
    public mutating func appendSeconds(_ seconds: Int64?) {
        guard let seconds else { return appendNull() }
        separate()
        appendDigits(seconds)
        bytes.append(contentsOf: " seconds".utf8)
    }

    public mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        rows += 1
        rowStarted = false
    }

    private mutating func appendDigits(_ number: Int64) {
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        var digits:
            (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[index]) }
        }
    }
}
