import CLibPQ

/// An error from PostgreSQL or from the layer over libpq.
///
/// `code` is the server's SQLSTATE for errors the server raised (for example `23505` for a unique
/// violation, `40001` for a serialization failure) and one of the `WMPG…` codes below for errors
/// raised on the client side.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible, Equatable {
    /// SQLSTATE from the server, or a `WMPG…` client code.
    public var code: String
    /// The primary human-readable message.
    public var message: String
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var table: String?
    public var column: String?
    /// The statement that failed, when one did (never its bind values).
    public var statement: String?

    public init(
        code: String, message: String, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil, table: String? = nil, column: String? = nil, statement: String? = nil
    ) {
        self.code = code
        self.message = message
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.table = table
        self.column = column
        self.statement = statement
    }

    /// Could not connect, or the connection broke.
    public static let connectionFailure = "WMPG1"
    /// A result column could not be decoded into the requested Swift type.
    public static let decodingFailure = "WMPG2"
    /// The pool or connection was used after it was closed.
    public static let closed = "WMPG3"
    /// libpq reported a failure without a server error (protocol or client misuse).
    public static let clientFailure = "WMPG4"
    /// The argument given to the layer was not valid (bad URL, bad identifier…).
    public static let invalidArgument = "WMPG5"
    /// The task waiting for a connection or a statement was cancelled.
    public static let cancelled = "WMPG6"

    static func cancellation(_ when: String) -> PostgresError {
        PostgresError(code: cancelled, message: "cancelled \(when)")
    }

    /// What happened, without the values of rows or binds, which can be personal data: the code,
    /// the message (for data exceptions, whose messages quote the offending value, only the part
    /// before the value) and the hint. `detail` (which names key values), the statement and the full
    /// message are in `debugDescription`.
    public var description: String {
        var text = "PostgreSQL error \(code): \(safeMessage)"
        if let constraint { text += " (constraint \(constraint))" }
        if let hint { text += " (hint: \(hint))" }
        return text
    }

    /// Everything the server said, values included, for debugging.
    public var debugDescription: String {
        var text = "PostgreSQL error \(code): \(message)"
        if let detail { text += " (detail: \(detail))" }
        if let hint { text += " (hint: \(hint))" }
        if let constraint { text += " (constraint: \(constraint))" }
        if let table { text += " (table: \(table))" }
        if let column { text += " (column: \(column))" }
        if let statement { text += " (statement: \(statement))" }
        return text
    }

    /// The message without a value it quotes: data exceptions put the value after the first ": ".
    public var safeMessage: String {
        guard isClass(SQLState.dataExceptionClass), let colon = message.range(of: ": ") else { return message }
        return String(message[..<colon.lowerBound])
    }

    /// Whether the server raised this with the given SQLSTATE class (first two characters).
    public func isClass(_ sqlstateClass: String) -> Bool { code.hasPrefix(sqlstateClass) }

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
            code: sqlstate ?? (brokenConnection ? connectionFailure : clientFailure),
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
