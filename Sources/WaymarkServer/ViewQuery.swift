import Foundation
import Hummingbird
import WaymarkEventStore
import WaymarkPostgres

/// One analytics view as a paged list: the query parameters that filter it (each mapped to a
/// column and checked), and the columns that order it, which the opaque cursor carries.
struct ViewListing: Sendable {
    struct Filter: Sendable {
        enum Kind: Sendable {
            /// Equal to the text given.
            case text
            /// Equal to one of these words.
            case choice([String])
            /// Equal to the whole number given.
            case integer
            /// `true` or `false`.
            case flag
            /// At or after the RFC 3339 time given.
            case from
            /// Before the RFC 3339 time given.
            case before
            /// Below the duration given (ISO 8601, `PT4H`, or PostgreSQL's `4 hours`).
            case below
        }
        var parameter: String
        var column: String
        var kind: Kind
    }

    var view: String
    var filters: [Filter]
    /// The order, as column and SQL type: the last must make it unique.
    var order: [(column: String, type: String)]

    static let pagingParameters = ["limit", "cursor"]

    /// The query's conditions from the request's parameters; refuses a parameter it does not know.
    func conditions(_ request: Request) throws -> [PostgresQuery] {
        let known = Set(filters.map(\.parameter) + Self.pagingParameters)
        for (name, _) in request.uri.queryParameters where !known.contains(String(name)) {
            throw ApiError(
                .unknownField, "query parameter \(name) is not a filter here; the filters: \(filters.map(\.parameter).joined(separator: ", "))",
                field: "query.\(name)")
        }
        var conditions: [PostgresQuery] = []
        for filter in filters {
            guard let value = request.uri.queryParameters[filter.parameter[...]].map(String.init) else { continue }
            conditions.append(try condition(filter, value))
        }
        if let cursor = request.uri.queryParameters["cursor"].map(String.init) { conditions.append(try after(cursor)) }
        return conditions
    }

    private func condition(_ filter: Filter, _ value: String) throws -> PostgresQuery {
        let column = PostgresQuery(sql: PostgresIdentifier.quote(filter.column))
        func invalid(_ what: String) -> ApiError {
            ApiError(.invalidValue, "query parameter \(filter.parameter) must be \(what), not '\(value.prefix(60))'", field: "query.\(filter.parameter)")
        }
        switch filter.kind {
        case .text:
            guard !value.isEmpty, value.unicodeScalars.count <= 200 else { throw invalid("1 to 200 characters") }
            return "\(column) = \(value)"
        case .choice(let words):
            guard words.contains(value) else { throw invalid("one of \(words.joined(separator: ", "))") }
            return "\(column) = \(value)"
        case .integer:
            guard let number = Int64(value) else { throw invalid("a whole number") }
            return "\(column) = \(number)"
        case .flag:
            guard value == "true" || value == "false" else { throw invalid("true or false") }
            return "\(column) = \(value == "true")"
        case .from, .before:
            guard let date = JSONObject.timestamp(value) else { throw invalid("an RFC 3339 time such as 2026-12-06T08:00:00Z") }
            if case .from = filter.kind { return "\(column) >= \(date)" }
            return "\(column) < \(date)"
        case .below:
            guard Self.isDuration(value) else { throw invalid("a duration such as PT4H or 4 hours") }
            return "\(column) < \(value)::interval"
        }
    }

    /// ISO 8601 durations and PostgreSQL's plain ones (`4 hours 30 minutes`); nothing else reaches SQL.
    static func isDuration(_ text: String) -> Bool {
        guard !text.isEmpty, text.count <= 60 else { return false }
        if text.range(of: #"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"#, options: .regularExpression) != nil, text != "P",
            !text.hasSuffix("T")
        {
            return true
        }
        return text.range(
            of: #"^(-?\d+(\.\d+)? ?(microseconds?|milliseconds?|seconds?|minutes?|hours?|days?|weeks?|mons?|months?|years?) ?)+$"#, options: .regularExpression)
            != nil
    }

    /// Rows after the cursor's position in the order.
    private func after(_ cursor: String) throws -> PostgresQuery {
        guard let values = Self.decodeCursor(cursor), values.count == order.count else {
            throw ApiError(.invalidValue, "query parameter cursor is not a cursor this listing gave", field: "query.cursor")
        }
        var columns: PostgresQuery = ""
        var bounds: PostgresQuery = ""
        for (index, (column, type)) in order.enumerated() {
            let separator: PostgresQuery = index == 0 ? "" : ", "
            columns = "\(columns)\(separator)\(PostgresQuery(sql: PostgresIdentifier.quote(column)))"
            bounds = "\(bounds)\(separator)\(values[index])::\(PostgresQuery(sql: type))"
        }
        return "(\(columns)) > (\(bounds))"
    }

    static func encodeCursor(_ values: [String]) -> String {
        base64URL((try? JSONEncoder().encode(values)) ?? Data())
    }

    static func decodeCursor(_ text: String) -> [String]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        return try? JSONDecoder().decode([String].self, from: data)
    }

    /// `conditions` joined with AND, or nothing.
    static func whereClause(_ conditions: [PostgresQuery]) -> PostgresQuery {
        guard var clause = conditions.first else { return "" }
        for condition in conditions.dropFirst() { clause = "\(clause) AND \(condition)" }
        return "WHERE \(clause)"
    }
}

/// A page of view rows: each row as its JSON object with camelCase keys, and the cursor of the
/// next page (nil at the end).
struct ViewPage: Encodable {
    var rows: [JSONValue]
    var nextCursor: String?
}

extension ApiServer {
    /// Reads views in a transaction that prints times in UTC and intervals as ISO 8601 durations.
    package func readViews<T: Sendable>(_ body: @escaping @Sendable (Transaction) async throws -> T) async throws -> T {
        do {
            return try await store.transaction { transaction in
                // In one round trip (JIT is off for the store's connections: `EventStore.sessionSettings`).
                // Views are read with plans made for their values: a cached generic plan knows
                // neither a journey type's share of the rows nor the members of an array.
                try await transaction.query(
                    """
                    SELECT set_config('TimeZone', 'UTC', true), set_config('intervalstyle', 'iso_8601', true),
                           set_config('transaction_read_only', 'on', true), set_config('plan_cache_mode', 'force_custom_plan', true)
                    """)
                return try await body(transaction)
            }
        } catch let error as PostgresError where error.code == SQLState.undefinedTable {
            throw ApiError(
                .viewsNotBuilt, "the views in schema \(analyticsSchema) are not built yet: a projection runner builds them (`waymark serve` runs one)")
        }
    }

    /// The qualified name of an analytics view.
    package func view(_ name: String) -> PostgresQuery { "\(identifier: analyticsSchema).\(identifier: name)" }

    /// One page of `listing` for `request`.
    func page(_ listing: ViewListing, _ request: Request) async throws -> ViewPage {
        let conditions = try listing.conditions(request)
        let limit = try Self.limit(request)
        var order: PostgresQuery = ""
        var keys: PostgresQuery = ""
        for (index, column) in listing.order.map(\.column).enumerated() {
            let separator: PostgresQuery = index == 0 ? "" : ", "
            order = "\(order)\(separator)\(PostgresQuery(sql: PostgresIdentifier.quote(column)))"
            keys = "\(keys), \(PostgresQuery(sql: PostgresIdentifier.quote(column)))::text"
        }
        let query: PostgresQuery = """
            SELECT row_to_json(v)::text\(keys) FROM \(view(listing.view)) v \(ViewListing.whereClause(conditions)) ORDER BY \(order) LIMIT \(limit + 1)
            """
        let rows = try await readViews { try await $0.query(query) }
        var page = ViewPage(rows: [], nextCursor: nil)
        for (index, row) in rows.enumerated() {
            if index == limit {
                page.nextCursor = ViewListing.encodeCursor(try (1...listing.order.count).map { try rows[index - 1].decode(String.self, at: $0) })
                break
            }
            page.rows.append(try Self.camelCased(try row.decode(String.self, at: 0)))
        }
        return page
    }

    /// The rows `query` selects as `row_to_json(…)::text`, each with camelCase keys.
    static func viewRows(_ query: PostgresQuery, in transaction: Transaction) async throws -> [JSONValue] {
        try await transaction.query(query).map { try camelCased(try $0.decode(String.self, at: 0)) }
    }

    /// A view row's JSON with its top-level keys in camelCase (`journey_id` → `journeyId`); values
    /// (a jsonb column's own keys) as they are.
    static func camelCased(_ text: String) throws -> JSONValue {
        guard case .object(let fields) = try JSONParser.parse(text) else { return .null }
        var out: [String: JSONValue] = [:]
        for (key, value) in fields {
            let parts = key.split(separator: "_")
            out[(parts.first.map(String.init) ?? "") + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()] = value
        }
        return .object(out)
    }
}

/// Base64 with the URL's alphabet and no padding (RFC 4648 §5): keys' secrets and cursors.
func base64URL(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}
