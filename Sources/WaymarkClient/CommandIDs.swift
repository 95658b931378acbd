import Crypto
import Foundation

/// Event ids derived from a command id: the same command always produces the same ids, so a
/// retried command (a lost reply, a restarted client) is recognised and writes nothing.
public enum CommandIDs {
    /// The id of the `index`th event `commandId` produces: the first 16 bytes of
    /// SHA-256("waymark-event" ‖ command id ‖ index), marked as an RFC 9562 version-8 UUID.
    public static func eventID(command commandId: UUID, index: Int) -> UUID {
        var input = Data("waymark-event".utf8)
        withUnsafeBytes(of: commandId.uuid) { input.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(index).bigEndian) { input.append(contentsOf: $0) }
        var bytes = Array(SHA256.hash(data: input).prefix(16))
        bytes[6] = 0x80 | (bytes[6] & 0x0f)  // version 8: custom
        bytes[8] = 0x80 | (bytes[8] & 0x3f)  // variant 10
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12],
                bytes[13], bytes[14], bytes[15]
            ))
    }
}
