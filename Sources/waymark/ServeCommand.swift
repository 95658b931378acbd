import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import WaymarkPostgres
import WaymarkRuntime
import WaymarkServer

/// `waymark serve`: the HTTP API, with the projections and the process manager beside it.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Serve the HTTP API (/v1, contract at /openapi.yaml) with the projection runner, the process manager and the rules engine, until SIGINT or SIGTERM."
    )

    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup var definitions: DefinitionOptions
    @Option(help: "Address to listen on (server.host; default 127.0.0.1; 0.0.0.0 for every interface).") var host: String?
    @Option(help: "Port to listen on (server.port; default 8080; 0 for any free one).") var port: String?
    @Flag(help: "Serve the API alone: the projections and the process manager run elsewhere.") var apiOnly = false
    @Option(help: "Names the process manager beside the API in the events it records (default: host:pid:random).") var instance: String?
    @Option(help: "PEM certificate chain to serve HTTPS with (server.tls_cert; with --tls-key).") var tlsCert: String?
    @Option(help: "PEM private key of the certificate (server.tls_key).") var tlsKey: String?

    var overrides: [ConfigurationOverride] {
        definitions.overrides
            + [
                host.map { ConfigurationOverride(key: "server.host", value: $0, option: "--host") },
                port.map { ConfigurationOverride(key: "server.port", value: $0, option: "--port") },
                tlsCert.map { ConfigurationOverride(key: "server.tls_cert", value: $0, option: "--tls-cert") },
                tlsKey.map { ConfigurationOverride(key: "server.tls_key", value: $0, option: "--tls-key") },
            ].compactMap { $0 }
    }

    func validate() throws { try checkOptions(overrides) }

    func run() async throws {
        let runtime = try runtime.runtime(overrides)
        let host = runtime.configuration.server.host
        let scheme = runtime.configuration.server.tlsCertificate == nil ? "http" : "https"
        // Every module's metrics (appends, reads, subscriptions' lag) and the HTTP requests' go to
        // one registry, served at /metrics.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        try await runtime.withDatabase { database in
            try await database.withServe(
                apiOnly: apiOnly, instance: instance, metrics: registry,
                onListening: { port in
                    // The line scripts and tests wait for: the URL, once the port is open.
                    print("listening on \(scheme)://\(host):\(port) (schema \(runtime.configuration.database.schema)); Ctrl-C stops")
                    fflush(nil)
                }
            ) { services in
                try await services.serviceGroup(logger: runtime.logger).run()
            }
        }
    }
}

/// `waymark keys create|list|revoke`: the HTTP API's keys.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make, list and revoke the HTTP API's keys (only a hash of each is stored; a key is printed once).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key and print it once.")
        @OptionGroup var runtime: RuntimeOptions
        @Option(help: "service, analyst, operator or admin.") var role: String
        @Option(help: "Service keys: the source system the key's writes are stamped with (a caller cannot claim another).") var sourceSystem: String?
        @Option(help: "A note to tell keys apart in `keys list`.") var label: String?
        @Option(help: "When the key stops working: an RFC 3339 time (2027-01-31T00:00:00Z) or a duration from now (30d, 12h).")
        var expires: String?

        func validate() throws {
            guard ApiRole(rawValue: role) != nil else {
                throw ValidationError("--role '\(role)' is no role: \(ApiRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let expires { _ = try Self.expiry(expires, now: Date()) }
        }

        /// An RFC 3339 time, or a whole number of days (`d`) or hours (`h`) from `now`.
        static func expiry(_ text: String, now: Date) throws -> Date {
            if let unit = text.last, "dh".contains(unit), let count = Int(text.dropLast()), count > 0 {
                return now.addingTimeInterval(Double(count) * (unit == "d" ? 86_400 : 3_600))
            }
            let formatter = ISO8601DateFormatter()
            if let date = formatter.date(from: text) { return date }
            throw ValidationError("--expires '\(text)' is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration such as 30d or 12h")
        }

        func run() async throws {
            let runtime = try runtime.runtime()
            try await runtime.withDatabase { database in
                try await database.withKeys { services in
                    let (key, secret) = try await services.keys.create(
                        role: ApiRole(rawValue: role)!, sourceSystem: sourceSystem, label: label,
                        expiresAt: try expires.map { try Self.expiry($0, now: Date()) },
                        by: "cli:\(ProcessInfo.processInfo.userName)")
                    print("key \(key.keyId) (\(key.role.rawValue)\(key.sourceSystem.map { ", source system \($0)" } ?? ""))")
                    print("secret, shown this once: \(secret)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every key with its role, source system and state; never a secret.")
        @OptionGroup var runtime: RuntimeOptions

        func run() async throws {
            let runtime = try runtime.runtime()
            try await runtime.withDatabase { database in
                try await database.withKeys { services in
                    let keys = try await services.keys.list()
                    if keys.isEmpty { print("no keys yet; make one with `waymark keys create --role admin`") }
                    let now = Date()
                    for key in keys {
                        let state =
                            key.revokedAt.map { "revoked \(TimestampText.iso8601($0))" }
                            ?? (key.isActive(at: now) ? "active" : "expired \(TimestampText.iso8601(key.expiresAt!))")
                        print(
                            "\(key.keyId)  \(key.role.rawValue)  \(key.sourceSystem ?? "-")  \(state)  created \(TimestampText.iso8601(key.createdAt)) by \(key.createdBy)\(key.label.map { "  \($0)" } ?? "")"
                        )
                    }
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: it stops working at once on new connections' lookups, within 5 s everywhere.")
        @OptionGroup var runtime: RuntimeOptions
        @Argument(help: "The key's id (as `keys list` shows it).") var keyId: String

        func run() async throws {
            let runtime = try runtime.runtime()
            try await runtime.withDatabase { database in
                try await database.withKeys { services in
                    guard try await services.keys.revoke(keyId, by: "cli:\(ProcessInfo.processInfo.userName)") else {
                        throw CLIError("no key has id '\(keyId)'; `waymark keys list` shows them")
                    }
                    print("key \(keyId) revoked")
                }
            }
        }
    }
}
