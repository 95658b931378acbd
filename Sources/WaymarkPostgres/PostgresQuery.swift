/// A statement with its bind values, written as one string literal:
///
/// ```swift
/// try await connection.query("SELECT data FROM events WHERE stream_name = \(name) AND stream_version > \(version)")
/// ```
///
/// Every interpolated value becomes a bind parameter (`$1`, `$2`, …), never text in the SQL.
/// Identifiers that cannot be binds (a schema, a table) are spliced with `\(identifier: name)`,
/// which quotes them; a constant piece of SQL held in another `PostgresQuery` is spliced with
/// `\(fragment)`, its binds renumbered.
public struct PostgresQuery: Sendable, Equatable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text with `$n` placeholders.
    public private(set) var sql: String
    public private(set) var binds: [PostgresBind]
    /// Where each placeholder sits in `sql` (UTF-8 offset and length), in order, so that a fragment
    /// can be spliced into another query with its placeholders renumbered.
    private var placeholders: [Range<Int>]
    /// The first problem found while building (an empty identifier, say); thrown when run.
    public private(set) var problem: PostgresError?

    /// A statement written out with `$n` placeholders and its binds, for SQL built elsewhere.
    public init(sql: String, binds: [any PostgresEncodable] = []) {
        self.sql = sql
        self.binds = binds.map(\.postgresBind)
        self.placeholders = []
        self.problem = nil
    }

    public init(stringLiteral value: String) {
        self.init(sql: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
        placeholders = stringInterpolation.placeholders
        problem = stringInterpolation.problem
    }

    /// The SQL and the number of binds; never the bind values, which can hold personal data.
    public var description: String { "\(sql) [\(binds.count) binds]" }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PostgresBind] = []
        var placeholders: [Range<Int>] = []
        var problem: PostgresError?

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// A value, sent as a bind parameter.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            appendBind(value.postgresBind)
        }

        /// An optional value, sent as a bind parameter (NULL when nil).
        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            appendBind(value?.postgresBind ?? .null)
        }

        /// An identifier (schema, table, column, channel), double-quoted into the SQL text.
        public mutating func appendInterpolation(identifier name: String) {
            if name.isEmpty || name.utf8.contains(0) || name.utf8.count > 63 {
                problem = problem ?? PostgresError(code: PostgresError.invalidArgument, message: "an identifier must have 1 to 63 bytes and no NUL")
            }
            sql += PostgresIdentifier.quote(name)
        }

        /// A piece of SQL held in another query, its binds appended and its placeholders renumbered.
        public mutating func appendInterpolation(_ fragment: PostgresQuery) {
            if let issue = fragment.problem { problem = problem ?? issue }
            var utf8 = Array(fragment.sql.utf8)[...]
            var consumed = 0
            for (index, placeholder) in fragment.placeholders.enumerated() {
                sql += String(decoding: utf8.prefix(placeholder.lowerBound - consumed), as: UTF8.self)
                utf8 = utf8.dropFirst(placeholder.upperBound - consumed)
                consumed = placeholder.upperBound
                appendBind(fragment.binds[index])
            }
            sql += String(decoding: utf8, as: UTF8.self)
            if fragment.placeholders.isEmpty && !fragment.binds.isEmpty {
                problem =
                    problem
                    ?? PostgresError(
                        code: PostgresError.invalidArgument,
                        message: "a query written with $n placeholders (PostgresQuery(sql:binds:)) cannot be spliced into another")
            }
        }

        private mutating func appendBind(_ bind: PostgresBind) {
            binds.append(bind)
            let start = sql.utf8.count
            sql += "$\(binds.count)"
            placeholders.append(start..<sql.utf8.count)
        }
    }
}
