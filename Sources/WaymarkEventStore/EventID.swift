import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension UUID {
    /// A new RFC 9562 version-7 UUID: 48 bits of Unix time in milliseconds, then 74 random bits.
    ///
    /// The default id of a new event. Ids made close in time sort close together, so the unique
    /// index on event ids grows at its right edge instead of touching a random leaf page per insert,
    /// and the random bits come from one `arc4random_buf` call (Foundation's `UUID()` opens and reads
    /// /dev/urandom for each one here).
    public static func timeOrdered(now: Date = Date()) -> UUID {
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        withUnsafeMutableBytes(of: &bytes) { raw in
            arc4random_buf(raw.baseAddress! + 6, 10)
            for index in 0..<6 { raw[index] = UInt8(truncatingIfNeeded: millis >> (40 - 8 * index)) }
            raw[6] = 0x70 | (raw[6] & 0x0f)  // version 7
            raw[8] = 0x80 | (raw[8] & 0x3f)  // variant 10
        }
        return UUID(uuid: bytes)
    }
}
