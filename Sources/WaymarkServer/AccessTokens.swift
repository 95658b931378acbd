import Foundation
import JWTKit

/// Single sign-on: bearer JWTs signed by the identity provider's keys (a JWKS; RS256 and ES256),
/// for `issuer` and `audience`, naming the caller's Waymark roles in a `roles` claim.
public struct AccessTokenSettings: Sendable, Equatable {
    /// The JWKS as JSON text (the provider's published keys).
    public var jwks: String
    public var issuer: String
    public var audience: String

    public init(jwks: String, issuer: String, audience: String) {
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
    }
}

/// The claims Waymark reads: who (`sub`), for whom (`iss`, `aud`), until when (`exp`, `nbf`),
/// as what (`roles`: role names; others are ignored), and for a service the source system its
/// writes are stamped with (`source_system`).
struct AccessTokenClaims: JWTPayload {
    var sub: SubjectClaim
    var iss: IssuerClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var roles: [String]?
    var sourceSystem: String?

    enum CodingKeys: String, CodingKey {
        case sub, iss, aud, exp, nbf, roles
        case sourceSystem = "source_system"
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf?.verifyNotBefore()
    }
}

/// Verifies access tokens against the configured keys, issuer and audience.
public struct AccessTokenVerifier: Sendable {
    let keys: JWTKeyCollection
    let settings: AccessTokenSettings
    /// The algorithms a key may sign with: never `none` or a shared secret.
    static let algorithms: Set<String> = ["RS256", "ES256"]

    /// Loads the JWKS; a key set Waymark cannot use is an error naming why.
    public init(_ settings: AccessTokenSettings) async throws {
        // Checked as plain JSON first, so that a key of another kind is named rather than failing
        // the decoder somewhere inside it.
        guard let object = try? JSONSerialization.jsonObject(with: Data(settings.jwks.utf8)) as? [String: Any],
            let listed = object["keys"] as? [[String: Any]]
        else { throw ApiError(.invalidValue, "the JWKS is not a JSON Web Key Set (an object with a keys array)") }
        guard !listed.isEmpty else { throw ApiError(.invalidValue, "the JWKS holds no key") }
        for key in listed {
            let algorithm = key["alg"] as? String
            guard let algorithm, Self.algorithms.contains(algorithm) else {
                throw ApiError(
                    .invalidValue,
                    "JWKS key \(key["kid"] as? String ?? "(no kid)") must name its algorithm (alg) as RS256 or ES256, not \(algorithm ?? "none")")
            }
        }
        let jwks: JWKS
        do {
            jwks = try JSONDecoder().decode(JWKS.self, from: Data(settings.jwks.utf8))
        } catch {
            throw ApiError(.invalidValue, "the JWKS has a key jwt-kit cannot read: \(error)")
        }
        keys = JWTKeyCollection()
        do {
            try await keys.add(jwks: jwks)
        } catch {
            throw ApiError(.invalidValue, "the JWKS has a key jwt-kit cannot use: \(error)")
        }
        self.settings = settings
    }

    /// Whether `token` looks like a JWT (three base64url parts) rather than an API key.
    static func isToken(_ token: String) -> Bool {
        token.split(separator: ".", omittingEmptySubsequences: false).count == 3 && !token.hasPrefix("wmk_")
    }

    /// The caller a valid token names; an invalid one is a 401 saying why.
    func authenticate(_ token: String) async throws -> Principal {
        let claims: AccessTokenClaims
        do {
            claims = try await keys.verify(token, as: AccessTokenClaims.self)
        } catch let error as JWTError {
            throw ApiError(.unauthorized, "the token is not valid: \(Self.reason(error))")
        } catch {
            throw ApiError(.unauthorized, "the token is not valid: it cannot be read")
        }
        guard claims.iss.value == settings.issuer else {
            throw ApiError(.unauthorized, "the token is not valid: its issuer is not the one this server trusts")
        }
        guard claims.aud.value.contains(settings.audience) else {
            throw ApiError(.unauthorized, "the token is not valid: it is not meant for this server (audience)")
        }
        let roles = Set((claims.roles ?? []).compactMap(ApiRole.init(rawValue:)))
        let subject = String(claims.sub.value.prefix(100))
        return Principal(keyId: "jwt:" + subject, roles: roles, sourceSystem: roles.contains(.service) ? claims.sourceSystem : nil)
    }

    static func reason(_ error: JWTError) -> String {
        switch error.errorType {
        case .claimVerificationFailure:
            if error.failedClaim is ExpirationClaim { return "it has expired" }
            if error.failedClaim is NotBeforeClaim { return "it is not valid yet" }
            return "a claim does not hold"
        case .signatureVerificationFailed: return "its signature does not verify with the configured keys"
        case .unknownKID, .missingKIDHeader: return "it is signed by no configured key"
        case .malformedToken: return "it is not a well-formed JWT"
        default: return "it is signed by no configured key with an allowed algorithm (RS256, ES256)"
        }
    }
}
