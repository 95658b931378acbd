import Foundation
import WaymarkPostgres

extension WaymarkConfiguration {
    /// The value of `key` as it would be written in `waymark.yaml` (`~` for none; a URL's password
    /// hidden), or nil for a key there is not.
    public func text(of key: String) -> String? {
        func duration(_ value: Duration?) -> String {
            guard let value else { return "none" }
            let (seconds, attoseconds) = value.components
            return attoseconds == 0 ? "\(seconds)s" : "\(seconds * 1_000 + attoseconds / 1_000_000_000_000_000)ms"
        }
        switch key {
        case "database.url": return database.url.map { PostgresConnection.redactedURL($0) } ?? "~"
        case "database.schema": return database.schema
        case "database.local_data_dir": return database.localDataDirectory
        case "database.migrations_dir": return database.migrationsDirectory ?? "~"
        case "database.pool.projections": return "\(database.pool.projections)"
        case "database.pool.client": return "\(database.pool.client)"
        case "database.pool.admin": return "\(database.pool.admin)"
        case "database.pool.process_manager": return "\(database.pool.processManager)"
        case "database.pool.notifications": return "\(database.pool.notifications)"
        case "database.pool.server": return "\(database.pool.server)"
        case "definitions.directory": return definitions.directory
        case "projections.analytics_schema": return projections.analyticsSchema
        case "projections.batch_size": return "\(projections.batchSize)"
        case "client.max_attempts": return "\(client.maxAttempts)"
        case "client.command_timeout": return duration(client.commandTimeout)
        case "client.cached_streams": return "\(client.cachedStreams)"
        case "server.host": return server.host
        case "server.port": return "\(server.port)"
        case "server.rate_limit": return "\(server.rateLimit)"
        case "server.rate_burst": return "\(server.rateBurst)"
        case "server.live_keepalive": return duration(server.liveKeepAlive)
        case "server.live_write_timeout": return duration(server.liveWriteTimeout)
        case "server.tls_cert": return server.tlsCertificate ?? "~"
        case "server.tls_key": return server.tlsKey ?? "~"
        case "server.jwt_jwks": return server.jwtJWKS ?? "~"
        case "server.jwt_issuer": return server.jwtIssuer ?? "~"
        case "server.jwt_audience": return server.jwtAudience ?? "~"
        case "logging.level": return logging.level.rawValue
        default: return nil
        }
    }

    /// One line per key: `key: value` and, for a value not left at its default, where it was set.
    public var summary: String {
        ConfigurationKey.all.map { key in
            let origin = origins[key.name].map { "  # \($0)" } ?? ""
            return "\(key.name): \(text(of: key.name) ?? "?")\(origin)"
        }.joined(separator: "\n")
    }
}
