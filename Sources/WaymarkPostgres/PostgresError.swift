import CLibPQ
import WaymarkErrors

/// An error from PostgreSQL or from the layer over libpq.
///
/// `code` is the server's SQLSTATE for errors the server raised (for example `23505` for a unique
/// violation, `40001` for a serialization failure) and one of the `WMPG…` codes below for errors
/// raised on the client side.
public struct PostgresError: WaymarkError, CustomDebugStringConvertible, Equatable {
    /// A SQLSTATE from the server (PostgreSQL's manual, appendix A), or a `WMPG…` client code. The
    /// server's list is open, so this wraps the five characters; `SQLState` names the ones Waymark
    /// looks at, and a string literal is one (`error.code == "23505"`).
    public struct Code: WaymarkErrorCode, ExpressibleByStringLiteral {
        /// The five-character SQLSTATE or the `WMPG…` code.
        public let raw: String

        public init(raw: String) { self.raw = raw }
        public init(stringLiteral value: String) { raw = value }

        /// Could not connect, or the connection broke.
        public static let connectionFailure: Code = "WMPG1"
        /// A result column could not be decoded into the requested Swift type.
        public static let decodingFailure: Code = "WMPG2"
        /// The pool or connection was used after it was closed.
        public static let closed: Code = "WMPG3"
        /// libpq reported a failure without a server error (protocol or client misuse).
        public static let clientFailure: Code = "WMPG4"
        /// The argument given to the layer was not valid (bad URL, bad identifier…).
        public static let invalidArgument: Code = "WMPG5"
        /// The task waiting for a connection or a statement was cancelled.
        public static let cancelled: Code = "WMPG6"

        public var name: String { raw }

        /// Whether the code is in the SQLSTATE class (its first two characters) `sqlstateClass`.
        public func isClass(_ sqlstateClass: String) -> Bool { raw.hasPrefix(sqlstateClass) }

        /// Connection and operator-intervention classes, and the client's own connection codes, are
        /// passing (`unavailable`); transaction rollbacks and constraint violations are `conflict`s;
        /// data exceptions and invalid arguments `invalid_input`; the rest a fault (`internal`).
        public var kind: ErrorKind {
            switch self {
            case .connectionFailure, .closed, .cancelled: return .unavailable
            case .invalidArgument: return .invalidInput
            default: break
            }
            switch raw.prefix(2) {
            case "08", "53", "57": return .unavailable
            case "40", "23", "55": return .conflict
            case "22": return .invalidInput
            default: return .internal
            }
        }
    }

    public var code: Code
    /// The server's primary message as it said it. Data exceptions quote the offending value
    /// there, which can be personal data: `message` leaves it out.
    public var serverMessage: String
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var table: String?
    public var column: String?
    /// The statement that failed, when one did (never its bind values).
    public var statement: String?

    public init(
        code: Code, message: String, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil, table: String? = nil, column: String? = nil, statement: String? = nil
    ) {
        self.code = code
        self.serverMessage = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.table = table
        self.column = column
        self.statement = statement
    }

    // Shorthands kept from when codes were strings: `PostgresError(code: PostgresError.closed, …)`.
    /// Could not connect, or the connection broke.
    public static let connectionFailure = Code.connectionFailure
    /// A result column could not be decoded into the requested Swift type.
    public static let decodingFailure = Code.decodingFailure
    /// The pool or connection was used after it was closed.
    public static let closed = Code.closed
    /// libpq reported a failure without a server error (protocol or client misuse).
    public static let clientFailure = Code.clientFailure
    /// The argument given to the layer was not valid (bad URL, bad identifier…).
    public static let invalidArgument = Code.invalidArgument
    /// The task waiting for a connection or a statement was cancelled.
    public static let cancelled = Code.cancelled

    static func cancellation(_ when: String) -> PostgresError {
        PostgresError(code: cancelled, message: "cancelled \(when)")
    }

    /// What happened, without the values of rows or binds, which can be personal data: the code,
    /// the message and the constraint and hint. `detail` (which names key values), the statement
    /// and the server's full message are in `debugDescription`.
    public var description: String {
        var text = "\(code): \(message)"
        if let constraint { text += " (constraint \(constraint))" }
        if let hint { text += " (hint: \(hint))" }
        return text
    }

    /// Everything the server said, values included, for debugging.
    public var debugDescription: String {
        var text = "\(code): \(serverMessage)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        if let constraint { text += " (constraint: \(constraint))" }
        if let table { text += " (table: \(table))" }
        if let column { text += " (column: \(column))" }
        if let statement { text += " (statement: \(statement))" }
        return text
    }

    /// The server's message without a value it quotes: data exceptions put the value after the
    /// first ": ".
    public var message: String {
        guard isClass(SQLState.dataExceptionClass), let colon = serverMessage.range(of: ": ") else { return serverMessage }
        return String(serverMessage[..<colon.lowerBound])
    }

    /// The same as `message` (its name before the error contract).
    public var safeMessage: String { message }

    /// Whether the server raised this with the given SQLSTATE class (first two characters).
    public func isClass(_ sqlstateClass: String) -> Bool { code.isClass(sqlstateClass) }

    static func from(result: OpaquePointer?, connection: OpaquePointer?, statement: String?) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlstate = field(Int32(UInt8(ascii: "C")))  // PG_DIAG_SQLSTATE
        var message = field(Int32(UInt8(ascii: "M")))  // PG_DIAG_MESSAGE_PRIMARY
        if message == nil, let connection, let raw = PQerrorMessage(connection) {
            let text = String(cString: raw).trimmingWhitespace()
            if !text.isEmpty { message = text }
        }
        let brokenConnection = connection.map { PQstatus($0) != CONNECTION_OK } ?? false
        return PostgresError(
            code: sqlstate.map(Code.init(raw:)) ?? (brokenConnection ? .connectionFailure : .clientFailure),
            message: message ?? "unknown libpq failure",
            detail: field(Int32(UInt8(ascii: "D"))),
            hint: field(Int32(UInt8(ascii: "H"))),
            constraint: field(Int32(UInt8(ascii: "n"))),
            table: field(Int32(UInt8(ascii: "t"))),
            column: field(Int32(UInt8(ascii: "c"))),
            statement: statement
        )
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
