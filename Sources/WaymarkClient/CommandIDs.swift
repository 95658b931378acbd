import Foundation
import WaymarkDomain

/// Event ids derived from a command id: the same command always produces the same ids, so a
/// retried command (a lost reply, a restarted client) is recognised and writes nothing.
public enum CommandIDs {
    /// The id of the `index`th event `commandId` produces: the first 16 bytes of
    /// SHA-256("waymark-event" ‖ command id ‖ index), marked as an RFC 9562 version-8 UUID.
    public static func eventID(command commandId: UUID, index: Int) -> UUID {
        var input = Data("waymark-event".utf8)
        withUnsafeBytes(of: commandId.uuid) { input.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(index).bigEndian) { input.append(contentsOf: $0) }
        return DerivedUUID.of(input)
    }
}
