import Foundation

/// Rows of text fields for `COPY … FROM STDIN` in PostgreSQL's text format, written straight into
/// one buffer. Fields of a row are appended in column order; `endRow()` closes each row. (Typed
/// rows go as `CopyBinary`, which spares both sides formatting and parsing.)
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

    public mutating func endRow() {
        bytes.append(UInt8(ascii: "\n"))
        rows += 1
        rowStarted = false
    }
}
