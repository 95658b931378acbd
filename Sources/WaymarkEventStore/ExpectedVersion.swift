/// What the writer expects a stream's version (its number of events) to be before an append.
public enum ExpectedVersion: Sendable, Equatable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must exist (hold at least one event).
    case streamExists
    /// The stream must hold exactly this many events (0 is the same as `noStream`).
    case exact(Int64)

    var sqlKind: String {
        switch self {
        case .any: return "any"
        case .noStream: return "no_stream"
        case .streamExists: return "exists"
        case .exact: return "exact"
        }
    }

    var sqlVersion: Int64? {
        if case .exact(let version) = self { return version }
        return nil
    }

    public var description: String {
        switch self {
        case .any: return "any"
        case .noStream: return "no stream"
        case .streamExists: return "stream exists"
        case .exact(let version): return String(version)
        }
    }
}
