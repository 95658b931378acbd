import Foundation
import Logging

/// Everything a Waymark process is configured with, one section per module. Read it with
/// `WaymarkConfiguration.load` (file, then environment, then command line); every key, its
/// environment variable and its default are listed in `ConfigurationKeys.all` and in
/// `docs/configuration.md`.
///
/// Sections for the process manager, notifications and the HTTP server go beside these when those
/// modules land: a new section is a nested struct here and its keys in `ConfigurationKeys`.
public struct WaymarkConfiguration: Sendable, Equatable {
    public var database = Database()
    public var definitions = Definitions()
    public var projections = Projections()
    public var client = Client()
    public var server = Server()
    public var logging = Logging()

    /// Where each key's value came from (`waymark.yaml:12`, `WAYMARK_DATABASE_URL`, `--schema`);
    /// keys left at their default are absent. Errors found after loading name the source with it.
    public var origins: [String: String] = [:]

    public init() {}

    public struct Database: Sendable, Equatable {
        /// A libpq URL or key=value string; nil: a private local server in `localDataDirectory`.
        public var url: String?
        /// The schema holding the event store and the read models' tables.
        public var schema = "waymark"
        /// The folder of the private local server used when no URL is given.
        public var localDataDirectory = ".waymark/postgres"
        /// A folder of `NNNN_name.sql` migrations; nil: the ones shipped with the event store.
        public var migrationsDirectory: String?
        public var pool = Pool()
        public init() {}
    }

    /// Connections each role's pool may open.
    public struct Pool: Sendable, Equatable {
        /// `projections run` and `projections rebuild` (each projection's leader holds one more).
        public var projections = 8
        /// Processes that send commands: the demo and the simulator (which takes at least 4 per sender).
        public var client = 18
        /// Read-only and one-off commands: `projections status`, `retry`, `skip`.
        public var admin = 2
        /// `process-manager run`: the deadline subscription, the firing rounds and `status`.
        public var processManager = 4
        /// `notifications run`: the outbox feed, claims and the delivery records.
        public var notifications = 6
        /// `waymark serve`: the HTTP API's commands and reads (the projections and the process
        /// manager it runs beside have their own pools).
        public var server = 12
        public init() {}
    }

    public struct Definitions: Sendable, Equatable {
        /// The folder with `calendars.yaml`, `consent.yaml` and `journeys/*.yaml`.
        public var directory = "config"
        public init() {}
    }

    public struct Projections: Sendable, Equatable {
        /// The schema of the analysts' views.
        public var analyticsSchema = "analytics"
        /// Most events per batch (one transaction with the checkpoint).
        public var batchSize = 50_000
        public init() {}
    }

    public struct Client: Sendable, Equatable {
        /// Tries of a command that meets a concurrent writer before it fails.
        public var maxAttempts = 10
        /// How long one command may take; nil: no limit.
        public var commandTimeout: Duration? = .seconds(30)
        /// Streams whose state the client keeps between commands.
        public var cachedStreams = 100_000
        public init() {}
    }

    /// `waymark serve`: where the HTTP API listens.
    public struct Server: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Requests a second each key may make, and how many at once beyond it.
        public var rateLimit = 50
        public var rateBurst = 100
        /// Live feeds: a keep-alive comment when quiet this long; a client not reading this long is dropped.
        public var liveKeepAlive = Duration.seconds(15)
        public var liveWriteTimeout = Duration.seconds(30)
        /// HTTPS: the PEM certificate chain and private key; neither: plain HTTP.
        public var tlsCertificate: String?
        public var tlsKey: String?
        /// Single sign-on: the identity provider's JWKS file, the issuer and the audience tokens
        /// must carry; no JWKS: API keys only.
        public var jwtJWKS: String?
        public var jwtIssuer: String?
        public var jwtAudience: String?
        public init() {}
    }

    public struct Logging: Sendable, Equatable {
        public var level: Logger.Level = .info
        public init() {}
    }
}
