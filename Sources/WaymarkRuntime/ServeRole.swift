import Foundation
import Logging
import NIOSSL
import Prometheus
import ServiceLifecycle
import WaymarkClient
import WaymarkConsole
import WaymarkDefinitions
import WaymarkErrors
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkReactions
import WaymarkServer

/// `waymark serve`: the HTTP API on a store of its own and, unless API only, the projection runner,
/// the process manager and the rules engine, each on a store of its own role (their own pools), in
/// one group. The API stops first on shutdown (in-flight requests finish), the stores last.
public struct ServeServices: RoleServices {
    public let store: EventStore
    public let api: ApiServer
    /// The API as a service, listening.
    public let application: any Service
    /// The projections and the process manager beside the API: none when API only.
    public let companions: [any Service]
    /// The API's live feeds learn of other processes' appends through the store's notifications.
    public var services: [any Service] { [store, AppendListener(store: store)] + companions + [application] }
}

/// `waymark keys …`: the store and its keys.
public struct KeyServices: RoleServices {
    public let store: EventStore
    public let keys: ApiKeyStore
    public var services: [any Service] { [store] }
}

extension RuntimeDatabase {
    /// The API and, unless `apiOnly`, what runs beside it. `onListening` gets the port once the
    /// server listens (the configured one, or the one picked for port 0).
    /// `metrics`, when given, is served at `/metrics` and counts the HTTP requests; the caller
    /// makes it the process's metrics backend so that the modules' metrics appear there too.
    public func withServe<T>(
        apiOnly: Bool, instance: String? = nil, metrics: PrometheusCollectorRegistry? = nil, onListening: @escaping @Sendable (Int) async -> Void,
        _ body: (ServeServices) async throws -> T
    ) async throws -> T {
        let catalog = try runtime.catalog()
        let tokens = try await accessTokens()
        let tls = try serverTLS()
        let logger = self.logger
        let serve: (EventStore, [any Service]) async throws -> ServeServices = { store, companions in
            let client = WaymarkClient(store: store, catalog: catalog, configuration: runtime.clientConfiguration, logger: logger)
            let api = ApiServer(
                store: store, client: client, tokens: tokens, readiness: readiness(store), analyticsSchema: configuration.projections.analyticsSchema,
                projections: try runner(store, DefinitionLibrary(catalog)),
                rateLimit: RateLimit(perSecond: Double(configuration.server.rateLimit), burst: configuration.server.rateBurst), metrics: metrics,
                liveFeeds: LiveFeedOptions(keepAlive: configuration.server.liveKeepAlive, writeTimeout: configuration.server.liveWriteTimeout),
                logger: logger)
            // The console shares the API's server, keys and roles.
            let router = api.router()
            let console = try await Console(api: api, catalog: catalog, secureCookies: tls != nil, logger: logger)
            console.addRoutes(to: router)
            let application = try api.application(
                host: configuration.server.host, port: configuration.server.port, tls: tls, router: router, onRunning: onListening)
            // The views' figures (open journeys, SLA outcomes, CSAT, deadlines) beside the operational metrics.
            let gauges: [any Service] = metrics.map { [OutcomeGauges(api: api, registry: $0)] } ?? []
            return ServeServices(store: store, api: api, application: application, companions: companions + gauges)
        }
        if apiOnly { return try await withRole(.serve, { store, _ in try await serve(store, []) }, body) }
        return try await withProjections { projections in
            try await withProcessManager(instance: instance) { processManager in
                try await withRole(
                    .serve, { store, _ in try await serve(store, projections.services + processManager.services) }, body)
            }
        }
    }

    /// The server's TLS settings when `server.tls_cert` and `server.tls_key` name its certificate
    /// chain and key; nil: plain HTTP. One without the other, or files that cannot be used, stop
    /// the start.
    func serverTLS() throws -> TLSConfiguration? {
        let server = configuration.server
        guard server.tlsCertificate != nil || server.tlsKey != nil else { return nil }
        guard let certificate = server.tlsCertificate else {
            throw configurationProblem("server.tls_cert", "must be set with server.tls_key: the certificate chain the server presents (PEM)")
        }
        guard let key = server.tlsKey else {
            throw configurationProblem("server.tls_key", "must be set with server.tls_cert: the certificate's private key (PEM)")
        }
        do {
            return try ApiServer.tlsConfiguration(certificateFile: certificate, keyFile: key)
        } catch let error as ApiError {
            throw configurationProblem("server.tls_cert", error.message)
        }
    }

    func configurationProblem(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(.invalidValue, key: key, source: configuration.origins[key] ?? "", message: message)
    }

    /// The single sign-on verifier the configuration asks for, or nil (API keys only). A JWKS
    /// without issuer or audience, or one that cannot be read or used, stops the start.
    func accessTokens() async throws -> AccessTokenVerifier? {
        let server = configuration.server
        guard let path = server.jwtJWKS else { return nil }
        let problem = configurationProblem
        guard let issuer = server.jwtIssuer else { throw problem("server.jwt_issuer", "must be set with server.jwt_jwks: the issuer tokens carry") }
        guard let audience = server.jwtAudience else {
            throw problem("server.jwt_audience", "must be set with server.jwt_jwks: the audience tokens must name")
        }
        let jwks: String
        do {
            jwks = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw problem("server.jwt_jwks", "cannot read \(path): \(error.localizedDescription)")
        }
        do {
            return try await AccessTokenVerifier(AccessTokenSettings(jwks: jwks, issuer: issuer, audience: audience))
        } catch let error as ApiError {
            throw problem("server.jwt_jwks", "\(path): \(error.message)")
        }
    }

    /// `waymark keys …`.
    public func withKeys<T>(_ body: (KeyServices) async throws -> T) async throws -> T {
        try await withRole(.keys, { store, _ in KeyServices(store: store, keys: ApiKeyStore(store: store)) }, body)
    }

    /// What `/readyz` checks: the database answers, every module's migrations are applied, and
    /// every projection has a live build and none has stopped on an event.
    public func readiness(_ store: EventStore) -> Readiness {
        let logger = self.logger
        let analyticsSchema = configuration.projections.analyticsSchema
        // Loaded once, not on every probe.
        let standard = Result { ProjectionSet.standard(definitions: DefinitionLibrary(try runtime.catalog())) }
        let migrations = (try? runtime.migrations()) ?? []
        return Readiness([
            Readiness.database(store),
            Readiness.Check(name: "migrations") {
                do {
                    let status = try await Migrator(migrations: migrations, schema: store.schema, logger: logger).status(store.pool)
                    let pending = status.filter { $0.appliedAt == nil }.map(\.migration.fileName)
                    if !pending.isEmpty { return "schema \(store.schema) lacks \(pending.joined(separator: ", ")): run `waymark migrate`" }
                    try await ProcessManagerSchema.requireMigrated(store, logger: logger)
                    try await NotificationSchema.requireMigrated(store, logger: logger)
                    try await ReactionSchema.requireMigrated(store, logger: logger)
                    try await ServerSchema.requireMigrated(store, logger: logger)
                    return nil
                } catch {
                    return ErrorReport(error).message
                }
            },
            Readiness.Check(name: "projections") {
                do {
                    let builds = try await ProjectionRunner.status(store: store)
                    if let failed = builds.first(where: { $0.record.state == .failed }) {
                        return "projection \(failed.record.name) stopped on an event: see `waymark projections status`"
                    }
                    let live = Set(builds.filter { $0.record.state == .live }.map(\.record.name))
                    let standard = try standard.get()
                    let missing = standard.projections.map(\.name).filter { !live.contains($0) }
                    if !missing.isEmpty { return "no live build of \(missing.joined(separator: ", ")) yet (`waymark projections run` builds them)" }
                    // A first build is marked live a moment before its views exist.
                    let rows = try await store.pool.query(
                        "SELECT viewname FROM pg_views WHERE schemaname = \(analyticsSchema) AND viewname = ANY(\(PostgresArray(standard.viewNames))::text[])")
                    let present = Set(try rows.map { try $0.decode(String.self, at: 0) })
                    let absent = standard.viewNames.filter { !present.contains($0) }
                    return absent.isEmpty ? nil : "views not there yet in \(analyticsSchema): \(absent.joined(separator: ", "))"
                } catch {
                    return ErrorReport(error).message
                }
            },
        ])
    }
}
