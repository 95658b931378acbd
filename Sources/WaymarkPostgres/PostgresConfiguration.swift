/// How to reach a PostgreSQL database.
public struct PostgresConfiguration: Sendable {
    /// A libpq connection URL (`postgresql://user@host:port/db?...`) or key=value string.
    public var url: String
    /// Schemas to put on the session's `search_path`, first one first. `nil` keeps the server default.
    public var searchPath: [String]?
    public var applicationName: String
    public var connectTimeoutSeconds: Int
    /// Further session settings (`name` → value) applied at connect time, such as planner settings
    /// that the owner of the connections relies on.
    public var settings: [String: String]

    public init(
        url: String, searchPath: [String]? = nil, applicationName: String = "waymark", connectTimeoutSeconds: Int = 10,
        settings: [String: String] = [:]
    ) {
        self.url = url
        self.searchPath = searchPath
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.settings = settings
    }

    /// The `options` connection parameter: session settings applied at connect time.
    var sessionOptions: String {
        var options = ["-c TimeZone=UTC", "-c DateStyle=ISO", "-c client_min_messages=warning"]
        if let searchPath, !searchPath.isEmpty {
            let joined = searchPath.map { PostgresIdentifier.quote($0) }.joined(separator: ",")
            options.append("-c search_path=" + Self.escapeOptionValue(joined))
        }
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
            options.append("-c " + Self.escapeOptionValue(name) + "=" + Self.escapeOptionValue(value))
        }
        return options.joined(separator: " ")
    }

    private static func escapeOptionValue(_ value: String) -> String {
        var out = ""
        for character in value {
            if character == " " || character == "\\" { out.append("\\") }
            out.append(character)
        }
        return out
    }
}

/// Quoting of SQL identifiers (schema, table, channel names), which cannot be sent as binds.
public enum PostgresIdentifier {
    /// Double-quotes `name`, doubling any embedded quote.
    public static func quote(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Checks that `name` can name a schema Waymark manages: a plain identifier (see `isPlain`),
    /// so that it needs no quoting in configuration, channel names or logs.
    public static func checkSchemaName(_ name: String) throws {
        guard isPlain(name) else {
            throw PostgresError(
                code: PostgresError.invalidArgument,
                message: "schema name '\(name)' is not a plain identifier (lower-case letters, digits and _, starting with a letter or _, at most 63 bytes)")
        }
    }

    /// Whether `name` is a plain lower-case identifier (letters, digits, `_`, at most 63 bytes).
    public static func isPlain(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63 else { return false }
        guard first == UInt8(ascii: "_") || (first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z")) else { return false }
        return name.utf8.allSatisfy { c in
            c == UInt8(ascii: "_") || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
        }
    }
}

public enum PostgresIsolation: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}
