import CLibPQ
import Foundation

/// A statement's bind values laid out for libpq: one buffer holds every value, each ended by a
/// NUL, instead of a C string per value.
struct EncodedBinds: Sendable {
    let oids: [Oid]
    private let buffer: [UInt8]
    /// Where each value starts in `buffer`; nil for NULL.
    private let offsets: [Int?]

    init(_ binds: [PostgresBind], sql: String) throws {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(binds.reduce(0) { $0 + ($1.text?.utf8.count ?? 0) + 1 })
        var offsets: [Int?] = []
        offsets.reserveCapacity(binds.count)
        for (index, bind) in binds.enumerated() {
            guard var text = bind.text else {
                offsets.append(nil)
                continue
            }
            offsets.append(buffer.count)
            let hasNUL = text.withUTF8 { bytes in
                buffer.append(contentsOf: bytes)
                return bytes.count > 0 && memchr(bytes.baseAddress!, 0, bytes.count) != nil
            }
            // PostgreSQL text cannot hold NUL, and a C string would end at it: refuse rather than
            // truncate.
            if hasNUL {
                throw PostgresError(
                    code: PostgresError.invalidArgument,
                    message: "bind value $\(index + 1) contains a NUL character, which PostgreSQL text cannot store", statement: sql)
            }
            buffer.append(0)
        }
        self.buffer = buffer
        self.offsets = offsets
        self.oids = binds.map { Oid($0.typeOID) }
    }

    /// Calls `body` with the number of values and libpq's array of value pointers.
    func withValues<T>(_ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> T) -> T {
        buffer.withUnsafeBytes { raw in
            let base = raw.bindMemory(to: CChar.self)
            let values: [UnsafePointer<CChar>?] = offsets.map { offset in offset.map { base.baseAddress! + $0 } }
            return values.withUnsafeBufferPointer { body(Int32(offsets.count), $0.baseAddress) }
        }
    }
}
