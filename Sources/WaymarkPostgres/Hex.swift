/// Hexadecimal digits, for the text forms of UUIDs and `bytea`, and JSON's `\u` escapes.
public enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hex digit, either case, and 1 in `invalid` for any other byte. Without
    /// branches (it compiles to conditional moves): ids and bytes are random, so digit-or-letter
    /// branches mispredicted half the time.
    @inline(__always)
    public static func nibble(_ c: UInt8) -> (value: UInt8, invalid: UInt8) {
        let digit = c &- UInt8(ascii: "0")
        let letter = (c | 0x20) &- UInt8(ascii: "a")
        let isDigit: UInt8 = digit < 10 ? 1 : 0
        let isLetter: UInt8 = letter < 6 ? 1 : 0
        return (isDigit == 1 ? digit : letter &+ 10, (isDigit | isLetter) ^ 1)
    }
}

extension Sequence where Element == UInt8 {
    /// The bytes as lower-case hex digits (a digest's text form). Without `String(format:)`, which
    /// costs a formatter call per byte.
    public var hexText: String {
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(Hex.digits[Int(byte >> 4)])
            out.append(Hex.digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
