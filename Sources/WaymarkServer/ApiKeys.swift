import Crypto
import Foundation
import Synchronization
import WaymarkEventStore
import WaymarkPostgres

/// Who may call the API: the four roles, each a set of what it may do (`Permission`).
public enum ApiRole: String, Sendable, CaseIterable, Codable {
    /// Sends commands, appends integration events, reads streams.
    case service
    /// Reads views and journeys; never personal fields.
    case analyst
    /// Projection and process-manager status, rebuilds, acknowledging escalations.
    case `operator`
    /// Keys.
    case admin
}

/// An authenticated caller: the key it used, its role, and the source system the key is bound to.
public struct Principal: Sendable, Equatable {
    /// The key's id, or `jwt:<subject>` for a token: the default actor, what a service's writes
    /// are marked with, and what rate limits count by.
    public var keyId: String
    /// A key has one role; a token may name several (or none, and may then do nothing).
    public var roles: Set<ApiRole>
    public var sourceSystem: String?

    public init(keyId: String, roles: Set<ApiRole>, sourceSystem: String?) {
        self.keyId = keyId
        self.roles = roles
        self.sourceSystem = sourceSystem
    }

    public init(keyId: String, role: ApiRole, sourceSystem: String?) {
        self.init(keyId: keyId, roles: [role], sourceSystem: sourceSystem)
    }
}

/// An API key as listed: never its secret.
public struct ApiKey: Sendable, Equatable, Codable {
    public var keyId: String
    public var role: ApiRole
    public var sourceSystem: String?
    public var label: String?
    public var createdAt: Date
    public var createdBy: String
    public var expiresAt: Date?
    public var revokedAt: Date?

    /// Whether it authenticates at `now`.
    public func isActive(at now: Date) -> Bool { revokedAt == nil && (expiresAt.map { $0 > now } ?? true) }
}

/// The API's keys in `api_keys`. A key reads `wmk_<id>_<secret>`: the id finds the row, the
/// secret's SHA-256 must match the stored one (a random 256-bit secret needs no slow hash: there
/// is nothing to guess from). The plain key exists only in `create`'s answer.
public struct ApiKeyStore: Sendable {
    public let store: EventStore
    /// Lookups are remembered this long: a revoked key stops working within it (at once on the
    /// server that revoked it).
    public let cacheFor: Duration
    private let cache = Cache()

    public init(store: EventStore, cacheFor: Duration = .seconds(5)) {
        self.store = store
        self.cacheFor = cacheFor
    }

    /// Makes a key; returns it as listed and the plain key to hand to its holder, once.
    public func create(role: ApiRole, sourceSystem: String?, label: String?, expiresAt: Date?, by creator: String, now: Date = Date()) async throws -> (
        ApiKey, String
    ) {
        if let sourceSystem {
            guard role == .service else {
                throw ApiError(
                    .invalidValue, "only a service key is bound to a source system; a \(role.rawValue) key writes nothing", field: "body.sourceSystem")
            }
            guard !sourceSystem.isEmpty, sourceSystem.unicodeScalars.count <= 100 else {
                throw ApiError(.invalidValue, "a source system is 1 to 100 characters", field: "body.sourceSystem")
            }
        }
        if let expiresAt, expiresAt <= now {
            throw ApiError(.invalidValue, "the key would expire at \(TimestampText.iso8601(expiresAt)), which is past", field: "body.expiresAt")
        }
        let keyId = Self.randomText(bytes: 8, alphabet: .hex)
        let secret = Self.randomText(bytes: 32, alphabet: .base64url)
        let key = ApiKey(
            keyId: keyId, role: role, sourceSystem: sourceSystem, label: label, createdAt: now, createdBy: creator, expiresAt: expiresAt, revokedAt: nil)
        try await store.pool.query(
            """
            INSERT INTO api_keys (key_id, secret_sha256, role, source_system, label, created_at, created_by, expires_at)
            VALUES (\(keyId), \(Self.digest(secret)), \(role.rawValue), \(sourceSystem), \(label), \(now), \(creator), \(expiresAt))
            """)
        return (key, "wmk_\(keyId)_\(secret)")
    }

    public func list() async throws -> [ApiKey] {
        try await store.pool.query(
            "SELECT key_id, role, source_system, label, created_at, created_by, expires_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
        ).map { row in
            let (keyId, role, source, label, created, creator, expires, revoked) = try row.decode(
                String.self, String.self, String?.self, String?.self, Date.self, String.self, Date?.self, Date?.self)
            return ApiKey(
                keyId: keyId, role: ApiRole(rawValue: role) ?? .analyst, sourceSystem: source, label: label, createdAt: created, createdBy: creator,
                expiresAt: expires, revokedAt: revoked)
        }
    }

    /// Revokes a key; false when no key has that id. Revoking twice keeps the first revocation.
    @discardableResult
    public func revoke(_ keyId: String, by revoker: String, now: Date = Date()) async throws -> Bool {
        let rows = try await store.pool.query(
            """
            UPDATE api_keys SET revoked_at = coalesce(revoked_at, \(now)), revoked_by = coalesce(revoked_by, \(revoker))
            WHERE key_id = \(keyId) RETURNING 1
            """)
        cache.forget(keyId)
        return !rows.isEmpty
    }

    /// The caller a bearer key names, or nil when it is malformed, unknown, revoked or expired.
    public func authenticate(_ token: String, now: Date = Date()) async throws -> Principal? {
        let parts = token.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "wmk", parts[1].count == 16, !parts[2].isEmpty else { return nil }
        let keyId = String(parts[1])
        let digest = Self.digest(String(parts[2]))
        if let cached = cache.lookup(keyId, digest: digest, now: now) { return cached.principal }
        let rows = try await store.pool.query(
            "SELECT secret_sha256, role, source_system, expires_at, revoked_at FROM api_keys WHERE key_id = \(keyId)")
        guard let row = rows.first else {
            // Unknown ids are remembered too: a caller trying ids costs one query per id per cacheFor.
            cache.rememberUnknown(keyId, until: now.addingTimeInterval(Double(cacheFor.components.seconds)))
            return nil
        }
        let (stored, role, source, expires, revoked) = try row.decode(String.self, String.self, String?.self, Date?.self, Date?.self)
        guard let role = ApiRole(rawValue: role) else { return nil }
        let principal = Principal(keyId: keyId, role: role, sourceSystem: source)
        cache.remember(
            keyId, digest: stored, principal: principal, until: now.addingTimeInterval(Double(cacheFor.components.seconds)), expiresAt: expires,
            revoked: revoked != nil)
        guard Self.equal(stored, digest), revoked == nil, expires.map({ $0 > now }) ?? true else { return nil }
        return principal
    }

    /// The SHA-256 of a secret, as hex.
    static func digest(_ secret: String) -> String { Array(SHA256.hash(data: Data(secret.utf8))).hexText }

    /// Compares without stopping at the first difference.
    static func equal(_ left: String, _ right: String) -> Bool {
        let (left, right) = (Array(left.utf8), Array(right.utf8))
        guard left.count == right.count else { return false }
        return zip(left, right).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    enum Alphabet { case hex, base64url }

    static func randomText(bytes count: Int, alphabet: Alphabet) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        switch alphabet {
        case .hex: return bytes.hexText
        case .base64url: return base64URL(Data(bytes))
        }
    }

    /// Recent lookups by key id: the stored digest and what the key was then.
    private final class Cache: Sendable {
        struct Entry {
            var digest: String
            /// nil: no key has this id.
            var principal: Principal?
            var until: Date
            var expiresAt: Date?
            var revoked: Bool
        }
        private let entries = Mutex<[String: Entry]>([:])

        /// The cached answer for a key presented with `digest`: `principal` nil means refused.
        func lookup(_ keyId: String, digest: String, now: Date) -> (principal: Principal?, Void)? {
            guard let entry = entries.withLock({ $0[keyId] }), entry.until > now else { return nil }
            guard let principal = entry.principal else { return (nil, ()) }
            let valid = ApiKeyStore.equal(entry.digest, digest) && !entry.revoked && (entry.expiresAt.map { $0 > now } ?? true)
            return (valid ? principal : nil, ())
        }

        func remember(_ keyId: String, digest: String, principal: Principal, until: Date, expiresAt: Date?, revoked: Bool) {
            entries.withLock { entries in
                if entries.count > 10_000 { entries.removeAll() }
                entries[keyId] = Entry(digest: digest, principal: principal, until: until, expiresAt: expiresAt, revoked: revoked)
            }
        }

        func rememberUnknown(_ keyId: String, until: Date) {
            entries.withLock { entries in
                if entries.count > 10_000 { entries.removeAll() }
                entries[keyId] = Entry(digest: "", principal: nil, until: until, expiresAt: nil, revoked: true)
            }
        }

        func forget(_ keyId: String) { _ = entries.withLock { $0.removeValue(forKey: keyId) } }
    }
}
