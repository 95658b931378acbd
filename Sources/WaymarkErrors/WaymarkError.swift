/// The contract every public Waymark error keeps: a stable code a program branches on, a message for
/// a person, and a `description` that is `code: message` (`transition_not_allowed: …`), at most
/// with context a type adds after the message (a file and line, a constraint). Neither holds
/// personal data, so errors can be logged and returned to callers as they are.
///
/// Each error type has its own `Code`: a struct over a private list of cases with static members
/// (as postgres-nio's `PSQLError.Code`), so `error.code == .idempotencyConflict` reads like an enum
/// but a new code is not a breaking change: a `switch` over codes needs a `default`.
public protocol WaymarkError: Error, Sendable, CustomStringConvertible {
    associatedtype Code: WaymarkErrorCode
    /// What went wrong, for a program: stable across releases.
    var code: Code { get }
    /// What went wrong, for a person. Names ids, files and keys, never personal data.
    var message: String { get }
}

extension WaymarkError {
    /// How a caller should take it (the HTTP status an API answers with); the code's kind.
    public var kind: ErrorKind { code.kind }

    /// `code: message`.
    public var description: String { "\(code.name): \(message)" }
}

/// A stable error code: its `name` (snake_case, or a SQLSTATE for PostgreSQL's errors) is what
/// `description` prints and what an API returns.
public protocol WaymarkErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// The code as documented in docs/errors.md, e.g. `transition_not_allowed`.
    var name: String { get }
    /// How a caller should take an error with this code.
    var kind: ErrorKind { get }
}

extension WaymarkErrorCode {
    public var description: String { name }
}

/// The few ways a caller can take an error; an HTTP API maps each to one status once.
public struct ErrorKind: Hashable, Sendable, CustomStringConvertible, CaseIterable {
    private enum Base: String, CaseIterable {
        case invalidInput = "invalid_input"
        case notFound = "not_found"
        case conflict
        case refused
        case unavailable
        case `internal`
    }

    private let base: Base
    private init(_ base: Base) { self.base = base }

    /// The request itself is malformed or breaks a documented limit: do not retry it unchanged.
    public static let invalidInput = ErrorKind(.invalidInput)
    /// Something the request names does not exist (a projection, a definition version).
    public static let notFound = ErrorKind(.notFound)
    /// Others changed the same thing at the same time, or an id was used for something else:
    /// read again, or retry.
    public static let conflict = ErrorKind(.conflict)
    /// Well formed, but the rules refuse it in the current state (a domain `Rejection`).
    public static let refused = ErrorKind(.refused)
    /// The database or a dependency cannot be reached now, or the work was cancelled: retry later.
    public static let unavailable = ErrorKind(.unavailable)
    /// A fault on Waymark's side: a bug, a stored value it cannot read, a misconfiguration.
    public static let `internal` = ErrorKind(.internal)

    public static var allCases: [ErrorKind] { Base.allCases.map(ErrorKind.init) }

    /// The kind's name in snake_case, e.g. `invalid_input`.
    public var name: String { base.rawValue }
    public var description: String { name }

    /// The HTTP status an API answers an error of this kind with.
    public var httpStatus: Int {
        switch base {
        case .invalidInput: return 400
        case .notFound: return 404
        case .conflict: return 409
        case .refused: return 422
        case .unavailable: return 503
        case .internal: return 500
        }
    }
}

/// What a caller may be told about any error, Waymark's or not: its code, kind and message. Errors
/// that are not `WaymarkError`s are reported without their text, which nobody checked for personal
/// data or internals (the HTTP server logs them and answers with this).
public struct ErrorReport: Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var kind: ErrorKind
    public var message: String

    public init(code: String, kind: ErrorKind, message: String) {
        self.code = code
        self.kind = kind
        self.message = message
    }

    public init(_ error: any Error) {
        switch error {
        case let error as any WaymarkError:
            // The description is the message with the context a type adds (file and line,
            // constraint), checked like the message for personal data.
            let prefix = "\(error.code.name): "
            let text = error.description
            self.init(code: error.code.name, kind: error.kind, message: text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : error.message)
        case is CancellationError:
            self.init(code: "cancelled", kind: .unavailable, message: "the work was cancelled")
        default:
            self.init(code: "internal_error", kind: .internal, message: "an unexpected error occurred")
        }
    }

    public var description: String { "\(code): \(message)" }
}
