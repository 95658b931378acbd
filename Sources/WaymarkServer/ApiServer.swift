import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import Metrics
import NIOCore
import NIOSSL
import Prometheus
import WaymarkClient
import WaymarkEventStore
import WaymarkProjections

/// Waymark's HTTP API (`/v1`, the contract in `openapi.yaml`): commands, raw events and keys, with
/// health and readiness, on Hummingbird. Routes are written by hand and proved against the
/// contract by the tests (each route is in the document and each documented operation answers).
public struct ApiServer: Sendable {
    /// Request bodies past this are refused unread (413).
    public static let maxBodySize = 1 << 20

    public let store: EventStore
    public let client: WaymarkClient
    public let keys: ApiKeyStore
    /// Single sign-on tokens; nil: API keys only.
    public let tokens: AccessTokenVerifier?
    public let readiness: Readiness
    /// The schema of the analysts' views the view routes read.
    public let analyticsSchema: String
    /// Takes rebuild requests (the running runners carry them out); nil: no rebuilds here.
    public let projections: ProjectionRunner?
    /// Requests per key; nil: unlimited.
    public let rateLimit: RateLimit?
    /// What `/metrics` shows, and where the HTTP metrics go; nil: no `/metrics`.
    public let metrics: PrometheusCollectorRegistry?
    public let liveFeeds: LiveFeedOptions
    public let liveFeedStats: LiveFeedStats
    public let logger: Logger

    public init(
        store: EventStore, client: WaymarkClient, keys: ApiKeyStore? = nil, tokens: AccessTokenVerifier? = nil, readiness: Readiness,
        analyticsSchema: String = "analytics",
        projections: ProjectionRunner? = nil, rateLimit: RateLimit? = nil, metrics: PrometheusCollectorRegistry? = nil,
        liveFeeds: LiveFeedOptions = .init(), logger: Logger
    ) {
        self.store = store
        self.client = client
        self.keys = keys ?? ApiKeyStore(store: store)
        self.tokens = tokens
        self.readiness = readiness
        self.analyticsSchema = analyticsSchema
        self.projections = projections
        self.rateLimit = rateLimit
        self.metrics = metrics
        self.liveFeeds = liveFeeds
        self.liveFeedStats = LiveFeedStats(factory: metrics.map { PrometheusMetricsFactory(registry: $0) } ?? MetricsSystem.factory)
        self.logger = logger
    }

    /// Every route, behind the problem and key middlewares.
    public func router() -> Router<ApiContext> {
        let router = Router(context: ApiContext.self)
        if let metrics { router.add(middleware: HTTPMetrics(factory: PrometheusMetricsFactory(registry: metrics))) }
        router.add(middleware: ProblemMiddleware(logger: logger))
        router.add(middleware: KeyAuthentication(keys: keys, tokens: tokens))
        if let rateLimit { router.add(middleware: RateLimiting(limit: rateLimit)) }
        addHealthRoutes(to: router)
        addCommandRoutes(to: router)
        addStreamRoutes(to: router)
        addLiveRoutes(to: router)
        addKeyRoutes(to: router)
        addViewRoutes(to: router)
        addOperationRoutes(to: router)
        if let metrics { addMetricsRoute(to: router, registry: metrics) }
        return router
    }

    /// The server as a `Service` on `host:port` (port 0: any free one, told to `onRunning`), over
    /// TLS when `tls` is given.
    /// `router`: the API's routes with others added (the console's); nil: the API's alone.
    public func application(
        host: String, port: Int, tls: TLSConfiguration? = nil, router: Router<ApiContext>? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        Application(
            router: router ?? self.router(), server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: .init(address: .hostname(host, port: port), serverName: "waymark"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// The caller an API key or a single sign-on token names; 401 when it names none.
    package func principal(_ credential: String) async throws -> Principal {
        try await KeyAuthentication.principal(credential, keys: keys, tokens: tokens)
    }

    /// The TLS settings of a server with the certificate chain and private key in these PEM files.
    /// A file that cannot be read, or a key that does not match the certificate, is an error
    /// naming the file.
    public static func tlsConfiguration(certificateFile: String, keyFile: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw ApiError(.invalidValue, "cannot read the TLS certificate \(certificateFile): \(error)")
        }
        guard !chain.isEmpty else { throw ApiError(.invalidValue, "the TLS certificate file \(certificateFile) holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw ApiError(.invalidValue, "cannot read the TLS private key \(keyFile): \(error)")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        do {
            // Fails now, not at the first handshake, when the key is not the certificate's.
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ApiError(.invalidValue, "the TLS private key \(keyFile) does not go with the certificate \(certificateFile): \(error)")
        }
        return configuration
    }
}

/// What `/readyz` checks: each check names itself and says what is wrong, or nil when all is well.
public struct Readiness: Sendable {
    public struct Check: Sendable {
        public var name: String
        public var problem: @Sendable () async -> String?

        public init(name: String, problem: @escaping @Sendable () async -> String?) {
            self.name = name
            self.problem = problem
        }
    }

    public var checks: [Check]

    public init(_ checks: [Check]) { self.checks = checks }
}

/// A reply whose body is JSON the route built itself: the replies to writes, which every append
/// and command makes, go this way rather than through `JSONEncoder`.
func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status, headers extra: HTTPFields = [:]) -> Response {
    var headers: HTTPFields = [.contentType: "application/json"]
    headers.append(contentsOf: extra)
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: value.text)))
}

/// A JSON reply.
func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var headers: HTTPFields = [.contentType: "application/json"]
    headers.append(contentsOf: extra)
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}
