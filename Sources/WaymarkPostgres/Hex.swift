/// Hexadecimal digits, for the text forms of UUIDs and `bytea`.
enum Hex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one hex digit, either case, and 1 in `invalid` for any other byte. Without
    /// branches (it compiles to conditional moves): ids and bytes are random, so digit-or-letter
    /// branches mispredicted half the time.
    @inline(__always)
    static func nibble(_ c: UInt8) -> (value: UInt8, invalid: UInt8) {
        let digit = c &- UInt8(ascii: "0")
        let letter = (c | 0x20) &- UInt8(ascii: "a")
        let isDigit: UInt8 = digit < 10 ? 1 : 0
        let isLetter: UInt8 = letter < 6 ? 1 : 0
        return (isDigit == 1 ? digit : letter &+ 10, (isDigit | isLetter) ^ 1)
    }
}
