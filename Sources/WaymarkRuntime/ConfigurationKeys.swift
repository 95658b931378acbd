import Foundation
import Logging
import WaymarkEventStore
import WaymarkPostgres

/// One configuration key: its dotted name in `waymark.yaml`, its environment variable, and how a
/// text value (from the file, the environment or an option) is checked and applied. The file, the
/// environment and the command line all go through `apply`, so a value means the same wherever
/// it is written.
public struct ConfigurationKey: Sendable {
    public let name: String
    public let environment: String
    /// Relative paths in the file are taken from the file's folder, elsewhere from the working directory.
    public let isPath: Bool
    public let defaultText: String
    public let help: String
    let apply: @Sendable (inout WaymarkConfiguration, String?) throws(ConfigurationProblem) -> Void
}

/// Why a value was refused; `ConfigurationError` adds where it was written.
struct ConfigurationProblem: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

extension ConfigurationKey {
    /// Every key there is, in the order of `waymark.example.yaml`.
    public static let all: [ConfigurationKey] = [
        ConfigurationKey(
            name: "database.url", environment: "WAYMARK_DATABASE_URL", isPath: false, defaultText: "(none: a private local server)",
            help: "PostgreSQL URL (postgresql://user@host:port/database) or key=value connection string"
        ) { configuration, text throws(ConfigurationProblem) in
            guard let text, !text.isEmpty else {
                configuration.database.url = nil
                return
            }
            guard looksLikeConnectionString(text) else {
                throw ConfigurationProblem(
                    "'\(PostgresConnection.redactedURL(text))' is neither a PostgreSQL URL (postgresql://user@host:port/database) nor a key=value connection string (host=… dbname=…)"
                )
            }
            configuration.database.url = text
        },
        ConfigurationKey(
            name: "database.schema", environment: "WAYMARK_SCHEMA", isPath: false, defaultText: "waymark", help: "schema holding the event store"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.schema = try schemaName(text)
        },
        ConfigurationKey(
            name: "database.local_data_dir", environment: "WAYMARK_DATA_DIR", isPath: true, defaultText: ".waymark/postgres",
            help: "folder of the private local server used when no URL is given"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.localDataDirectory = try required(text, "a folder")
        },
        ConfigurationKey(
            name: "database.migrations_dir", environment: "WAYMARK_MIGRATIONS_DIR", isPath: true, defaultText: "(the migrations shipped with the binary)",
            help: "folder of NNNN_name.sql migrations"
        ) { configuration, text throws(ConfigurationProblem) in
            guard let text, !text.isEmpty else {
                configuration.database.migrationsDirectory = nil
                return
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: text, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationProblem("no such folder \(text)")
            }
            configuration.database.migrationsDirectory = text
        },
        ConfigurationKey(
            name: "database.pool.projections", environment: "WAYMARK_POOL_PROJECTIONS", isPath: false, defaultText: "8",
            help: "connections of `projections run` and `rebuild`"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.pool.projections = try integer(text, 1...1_000)
        },
        ConfigurationKey(
            name: "database.pool.client", environment: "WAYMARK_POOL_CLIENT", isPath: false, defaultText: "18",
            help: "connections of processes that send commands (demo, simulate)"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.pool.client = try integer(text, 1...1_000)
        },
        ConfigurationKey(
            name: "database.pool.admin", environment: "WAYMARK_POOL_ADMIN", isPath: false, defaultText: "2",
            help: "connections of `projections status`, `retry`, `skip`"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.pool.admin = try integer(text, 1...1_000)
        },
        ConfigurationKey(
            name: "database.pool.process_manager", environment: "WAYMARK_POOL_PROCESS_MANAGER", isPath: false, defaultText: "4",
            help: "connections of `process-manager run` and `process-manager status`"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.pool.processManager = try integer(text, 1...1_000)
        },
        ConfigurationKey(
            name: "database.pool.notifications", environment: "WAYMARK_POOL_NOTIFICATIONS", isPath: false, defaultText: "6",
            help: "connections of `notifications run` and `notifications status`"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.pool.notifications = try integer(text, 1...1_000)
        },
        ConfigurationKey(
            name: "database.pool.server", environment: "WAYMARK_POOL_SERVER", isPath: false, defaultText: "12",
            help: "connections of `waymark serve`'s HTTP API"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.database.pool.server = try integer(text, 1...1_000)
        },
        ConfigurationKey(
            name: "definitions.directory", environment: "WAYMARK_CONFIG_DIR", isPath: true, defaultText: "config",
            help: "folder with calendars.yaml, consent.yaml and journeys/*.yaml"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.definitions.directory = try required(text, "a folder")
        },
        ConfigurationKey(
            name: "projections.analytics_schema", environment: "WAYMARK_ANALYTICS_SCHEMA", isPath: false, defaultText: "analytics",
            help: "schema of the analysts' views"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.projections.analyticsSchema = try schemaName(text)
        },
        ConfigurationKey(
            name: "projections.batch_size", environment: "WAYMARK_PROJECTIONS_BATCH_SIZE", isPath: false, defaultText: "50000",
            help: "most events per batch, one transaction with the checkpoint"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.projections.batchSize = try integer(text, 1...CatchUpSubscription.maxBatchSize)
        },
        ConfigurationKey(
            name: "client.max_attempts", environment: "WAYMARK_CLIENT_MAX_ATTEMPTS", isPath: false, defaultText: "10",
            help: "tries of a command that meets a concurrent writer"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.client.maxAttempts = try integer(text, 1...1_000)
        },
        ConfigurationKey(
            name: "client.command_timeout", environment: "WAYMARK_CLIENT_COMMAND_TIMEOUT", isPath: false, defaultText: "30s",
            help: "longest a command may take (500ms, 30s, 2m) or none"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.client.commandTimeout = try duration(text)
        },
        ConfigurationKey(
            name: "client.cached_streams", environment: "WAYMARK_CLIENT_CACHED_STREAMS", isPath: false, defaultText: "100000",
            help: "streams whose state the client keeps between commands"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.client.cachedStreams = try integer(text, 0...100_000_000)
        },
        ConfigurationKey(
            name: "server.host", environment: "WAYMARK_SERVER_HOST", isPath: false, defaultText: "127.0.0.1",
            help: "address `waymark serve` listens on (0.0.0.0: every interface)"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.host = try required(text, "an address")
        },
        ConfigurationKey(
            name: "server.port", environment: "WAYMARK_SERVER_PORT", isPath: false, defaultText: "8080",
            help: "port `waymark serve` listens on (0: any free one)"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.port = try integer(text, 0...65_535)
        },
        ConfigurationKey(
            name: "server.rate_limit", environment: "WAYMARK_SERVER_RATE_LIMIT", isPath: false, defaultText: "50",
            help: "requests a second each API key may make (past it: 429 with Retry-After)"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.rateLimit = try integer(text, 1...1_000_000)
        },
        ConfigurationKey(
            name: "server.rate_burst", environment: "WAYMARK_SERVER_RATE_BURST", isPath: false, defaultText: "100",
            help: "requests a key may make at once beyond its rate"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.rateBurst = try integer(text, 1...1_000_000)
        },
        ConfigurationKey(
            name: "server.live_keepalive", environment: "WAYMARK_SERVER_LIVE_KEEPALIVE", isPath: false, defaultText: "15s",
            help: "a quiet live feed (Server-Sent Events) sends a keep-alive comment this often"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.liveKeepAlive = try requiredDuration(text)
        },
        ConfigurationKey(
            name: "server.live_write_timeout", environment: "WAYMARK_SERVER_LIVE_WRITE_TIMEOUT", isPath: false, defaultText: "30s",
            help: "a live feed's client that takes no write for this long is dropped"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.liveWriteTimeout = try requiredDuration(text)
        },
        ConfigurationKey(
            name: "server.tls_cert", environment: "WAYMARK_SERVER_TLS_CERT", isPath: true, defaultText: "~ (plain HTTP)",
            help: "PEM certificate chain the API presents over HTTPS (with server.tls_key)"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.tlsCertificate = text.flatMap { $0.isEmpty ? nil : $0 }
        },
        ConfigurationKey(
            name: "server.tls_key", environment: "WAYMARK_SERVER_TLS_KEY", isPath: true, defaultText: "~",
            help: "PEM private key of server.tls_cert"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.tlsKey = text.flatMap { $0.isEmpty ? nil : $0 }
        },
        ConfigurationKey(
            name: "server.jwt_jwks", environment: "WAYMARK_SERVER_JWT_JWKS", isPath: true, defaultText: "~ (API keys only)",
            help: "JWKS file of the identity provider whose RS256/ES256 tokens the API takes"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.jwtJWKS = text.flatMap { $0.isEmpty ? nil : $0 }
        },
        ConfigurationKey(
            name: "server.jwt_issuer", environment: "WAYMARK_SERVER_JWT_ISSUER", isPath: false, defaultText: "~",
            help: "the tokens' issuer (iss), required with a JWKS"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.jwtIssuer = text.flatMap { $0.isEmpty ? nil : $0 }
        },
        ConfigurationKey(
            name: "server.jwt_audience", environment: "WAYMARK_SERVER_JWT_AUDIENCE", isPath: false, defaultText: "~",
            help: "the audience (aud) tokens must name, required with a JWKS"
        ) { configuration, text throws(ConfigurationProblem) in
            configuration.server.jwtAudience = text.flatMap { $0.isEmpty ? nil : $0 }
        },
        ConfigurationKey(
            name: "logging.level", environment: "WAYMARK_LOG_LEVEL", isPath: false, defaultText: "info",
            help: "trace, debug, info, notice, warning, error or critical"
        ) { configuration, text throws(ConfigurationProblem) in
            let text = try required(text, "a level")
            guard let level = Logger.Level(rawValue: text) else {
                throw ConfigurationProblem(
                    "'\(text)' is no log level; one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            configuration.logging.level = level
        },
    ]

    /// The key named `name`, if there is one.
    public static func named(_ name: String) -> ConfigurationKey? { all.first { $0.name == name } }

    /// The sections of the file: a dotted prefix of some key.
    static let sections: Set<String> = Set(
        all.flatMap { key in
            let parts = key.name.split(separator: ".")
            return (1..<parts.count).map { parts[..<$0].joined(separator: ".") }
        })

    /// A libpq connection URI or a key=value connection string; anything else libpq would take as
    /// a database name on the default Unix socket, which is never what the user meant.
    static func looksLikeConnectionString(_ text: String) -> Bool {
        if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") { return true }
        let pairs = text.split(separator: " ", omittingEmptySubsequences: true)
        return !pairs.isEmpty && pairs.allSatisfy { pair in pair.contains("=") && !pair.hasPrefix("=") }
    }
}

private func required(_ text: String?, _ what: String) throws(ConfigurationProblem) -> String {
    guard let text, !text.isEmpty else { throw ConfigurationProblem("must be \(what), not empty") }
    return text
}

private func integer(_ text: String?, _ range: ClosedRange<Int>) throws(ConfigurationProblem) -> Int {
    let text = try required(text, "a whole number")
    guard let value = Int(text) else { throw ConfigurationProblem("must be a whole number, not '\(text)'") }
    guard range.contains(value) else {
        throw ConfigurationProblem("must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
    }
    return value
}

private func schemaName(_ text: String?) throws(ConfigurationProblem) -> String {
    let text = try required(text, "a schema name")
    do {
        try PostgresIdentifier.checkSchemaName(text)
    } catch let error as PostgresError {
        throw ConfigurationProblem(error.message)
    } catch {
        throw ConfigurationProblem("\(error)")
    }
    return text
}

/// A positive whole number with a unit: `ms`, `s`, `m`, `h` (not `none`).
private func requiredDuration(_ text: String?) throws(ConfigurationProblem) -> Duration {
    guard let value = try duration(text) else { throw ConfigurationProblem("must be a duration such as 500ms, 30s or 2m; not none") }
    return value
}

/// `none`, or a positive whole number with a unit: `ms`, `s`, `m`, `h`.
private func duration(_ text: String?) throws(ConfigurationProblem) -> Duration? {
    let text = try required(text, "a duration such as 30s, or none")
    if text == "none" { return nil }
    let units: [(String, (Int) -> Duration)] = [
        ("ms", { .milliseconds($0) }), ("s", { .seconds($0) }), ("m", { .seconds($0 * 60) }), ("h", { .seconds($0 * 3_600) }),
    ]
    for (unit, make) in units where text.hasSuffix(unit) {
        if let value = Int(text.dropLast(unit.count)), value > 0, value <= 1_000_000 { return make(value) }
    }
    throw ConfigurationProblem("must be a duration such as 500ms, 30s, 2m or 1h, or none; not '\(text)'")
}
