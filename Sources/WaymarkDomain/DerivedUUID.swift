import Crypto
import Foundation

/// A UUID derived from a name: the first 16 bytes of its SHA-256, marked as an RFC 9562 version-8
/// (custom) UUID. The same name always gives the same id, which is what makes a retried command's
/// events or a recorded definition version idempotent across processes.
public enum DerivedUUID {
    public static func of(_ name: Data) -> UUID {
        var bytes = Array(SHA256.hash(data: name).prefix(16))
        bytes[6] = 0x80 | (bytes[6] & 0x0f)  // version 8: custom
        bytes[8] = 0x80 | (bytes[8] & 0x3f)  // variant 10
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12],
                bytes[13], bytes[14], bytes[15]
            ))
    }
}
