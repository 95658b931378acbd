/// Hexadecimal digits, for the text forms of UUIDs and `bytea`.
enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hex digit, either case; nil for any other byte.
    @inline(__always)
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c &- UInt8(ascii: "A") &+ 10
        default: return nil
        }
    }

    /// The value of one hex digit, either case, and 1 in `invalid` for any other byte; compiles
    /// to conditional moves, for digits of random data.
    @inline(__always)
    static func nibbleWithoutBranches(_ c: UInt8) -> (value: UInt8, invalid: UInt8) {
        let digit = c &- UInt8(ascii: "0")
        let letter = (c | 0x20) &- UInt8(ascii: "a")
        let isDigit: UInt8 = digit < 10 ? 1 : 0
        let isLetter: UInt8 = letter < 6 ? 1 : 0
        return (isDigit == 1 ? digit : letter &+ 10, (isDigit | isLetter) ^ 1)
    }
}
