import HTTPTypes
import Hummingbird

/// The W3C Trace Context `traceparent` header (version 00): `00-<32 hex trace id>-<16 hex parent
/// id>-<2 hex flags>`, ids not all zeros. A header that does not parse is ignored, as the
/// specification asks (the request starts a new trace), rather than refused.
enum TraceParent {
    static let header = HTTPField.Name("traceparent")!

    /// The request's `traceparent`, if it is well formed.
    static func of(_ request: Request) -> String? {
        guard let value = request.headers[header] else { return nil }
        return valid(value) ? value.lowercased() : nil
    }

    static func valid(_ value: String) -> Bool {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        let (version, trace, parent, flags) = (parts[0], parts[1], parts[2], parts[3])
        func hex(_ text: Substring, _ count: Int) -> Bool { text.count == count && text.allSatisfy(\.isHexDigit) }
        return version == "00" && hex(trace, 32) && hex(parent, 16) && hex(flags, 2) && trace.contains { $0 != "0" } && parent.contains { $0 != "0" }
    }

    /// The reply's headers: the trace parent echoed, when the request carried one.
    static func echo(_ traceparent: String?) -> HTTPFields {
        guard let traceparent else { return [:] }
        return [header: traceparent]
    }
}
