import Foundation

/// UUIDs in PostgreSQL's text form (`8-4-4-4-12` lower-case hex), without Foundation's slower
/// formatter and parser: every event id crosses this boundary on append and on read.
extension UUID {
    /// The lower-case `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` form PostgreSQL prints.
    public var lowercasedText: String {
        let bytes = uuid
        return String(unsafeUninitializedCapacity: 36) { out in
            withUnsafeBytes(of: bytes) { raw in
                var o = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[o] = UInt8(ascii: "-")
                        o += 1
                    }
                    let byte = raw[index]
                    out[o] = Hex.digits[Int(byte >> 4)]
                    out[o + 1] = Hex.digits[Int(byte & 0x0f)]
                    o += 2
                }
            }
            return 36
        }
    }

    /// Parses the `8-4-4-4-12` hex form, either case; nil for anything else.
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        guard text.count == 36, text[8] == UInt8(ascii: "-"), text[13] == UInt8(ascii: "-"), text[18] == UInt8(ascii: "-"),
            text[23] == UInt8(ascii: "-")
        else { return nil }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var invalid: UInt8 = 0
        withUnsafeMutableBytes(of: &bytes) { out in
            var i = 0
            for index in 0..<16 {
                if i == 8 || i == 13 || i == 18 || i == 23 { i += 1 }
                let high = Hex.nibble(text[i])
                let low = Hex.nibble(text[i + 1])
                invalid |= high.invalid | low.invalid
                out[index] = high.value << 4 | low.value
                i += 2
            }
        }
        guard invalid == 0 else { return nil }
        self.init(uuid: bytes)
    }
}
