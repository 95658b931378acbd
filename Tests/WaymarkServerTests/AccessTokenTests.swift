import Crypto
import Foundation
import JWTKit
import NIOHTTP1
import Testing
import WaymarkServer
import WaymarkTesting
import _CryptoExtras

/// An identity provider of the tests: an RS256 and an ES256 key, their JWKS, and tokens.
struct TestIdentityProvider {
    let signers = JWTKeyCollection()
    let jwks: String
    static let issuer = "https://idp.example.test"
    static let audience = "waymark-api"

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var iss: IssuerClaim
        var aud: AudienceClaim
        var exp: ExpirationClaim
        var roles: [String]?
        var sourceSystem: String?

        enum CodingKeys: String, CodingKey {
            case sub, iss, aud, exp, roles
            case sourceSystem = "source_system"
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    init() async throws {
        let ec = ES256PrivateKey()
        let rsa = try Insecure.RSA.PrivateKey(backing: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        await signers.add(ecdsa: ec, kid: "ec-1")
        await signers.add(rsa: rsa, digestAlgorithm: .sha256, kid: "rsa-1")
        let (x, y) = try #require(ec.publicKey.parameters)
        let (modulus, exponent) = try rsa.publicKey.getKeyPrimitives()
        jwks = """
            {"keys":[
              {"kty":"EC","crv":"P-256","alg":"ES256","kid":"ec-1","use":"sig","x":"\(x)","y":"\(y)"},
              {"kty":"RSA","alg":"RS256","kid":"rsa-1","use":"sig","n":"\(modulus.base64URL)","e":"\(exponent.base64URL)"}
            ]}
            """
    }

    func settings() -> AccessTokenSettings { AccessTokenSettings(jwks: jwks, issuer: Self.issuer, audience: Self.audience) }

    func token(
        kid: String = "ec-1", subject: String = "dana@example.test", roles: [String]? = ["operator"], sourceSystem: String? = nil,
        issuer: String = issuer, audience: String = audience, expires: Date = Date().addingTimeInterval(600)
    ) async throws -> String {
        try await signers.sign(
            Claims(
                sub: .init(value: subject), iss: .init(value: issuer), aud: .init(value: [audience]), exp: .init(value: expires), roles: roles,
                sourceSystem: sourceSystem),
            kid: JWKIdentifier(string: kid))
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

@Suite("HTTP API: single sign-on tokens", .scaledTimeLimit(minutes: 3))
struct AccessTokenTests {
    @Test("RS256 and ES256 tokens from the configured JWKS act with their roles claim; a service token writes as its source system")
    func validTokens() async throws {
        let idp = try await TestIdentityProvider()
        let verifier = try await AccessTokenVerifier(idp.settings())
        try await ServerFixture.run(tokens: verifier) { fixture in
            for kid in ["ec-1", "rsa-1"] {
                let token = try await idp.token(kid: kid)
                let reply = try await fixture.request(.GET, "/v1/projections", key: token)
                #expect(reply.status == 200, "\(kid): \(reply.text)")
            }
            let analyst = try await idp.token(roles: ["analyst", "auditor"])
            let refused = try await fixture.request(.GET, "/v1/projections", key: analyst)
            #expect(refused.status == 403 && refused.code == "forbidden", "\(refused.text)")
            let service = try await idp.token(kid: "rsa-1", subject: "svc-crm", roles: ["service"], sourceSystem: "crm")
            let appended = try await fixture.request(
                .POST, "/v1/streams/case-7/events", key: service, json: #"{"events":[{"type":"CaseOpened","data":{"priority":2}}]}"#)
            #expect(appended.status == 201, "\(appended.text)")
            let stored = try await fixture.store.readStream("case-7").events
            #expect(stored.first?.metadata.sourceSystem == "crm" && stored.first?.metadata.actor == "jwt:svc-crm")
            #expect(stored.first?.metadata.extra[ApiServer.writerKey] == "jwt:svc-crm")
            #expect(try await fixture.request(.GET, "/v1/streams/case-7/events", key: service).status == 200)
            let claimed = try await fixture.request(
                .POST, "/v1/streams/case-7/events", key: service,
                json: #"{"events":[{"type":"CaseOpened","data":{},"metadata":{"sourceSystem":"billing"}}]}"#)
            #expect(claimed.status == 403 && claimed.code == "source_system_mismatch", "\(claimed.text)")
            let nobody = try await idp.token(roles: nil)
            #expect(try await fixture.request(.GET, "/v1/projections", key: nobody).status == 403)
        }
    }

    @Test("expired, foreign, forged, wrong-audience and shared-secret tokens are refused with 401 saying why")
    func refusedTokens() async throws {
        let idp = try await TestIdentityProvider()
        let verifier = try await AccessTokenVerifier(idp.settings())
        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey(), kid: "ec-1")
        await stranger.add(hmac: HMACKey(from: "a shared secret of the attacker, at least 32 bytes long"), digestAlgorithm: .sha256, kid: "rsa-1")
        let claims = TestIdentityProvider.Claims(
            sub: "eve", iss: .init(value: TestIdentityProvider.issuer), aud: .init(value: [TestIdentityProvider.audience]),
            exp: .init(value: Date().addingTimeInterval(600)), roles: ["admin"], sourceSystem: nil)
        let forged = try await stranger.sign(claims, kid: "ec-1")
        let hmac = try await stranger.sign(claims, kid: "rsa-1")
        let unsigned = Self.unsignedToken(claims)
        try await ServerFixture.run(tokens: verifier) { fixture in
            let cases: [(String, String)] = [
                (try await idp.token(expires: Date().addingTimeInterval(-60)), "expired"),
                (try await idp.token(issuer: "https://evil.example.test"), "issuer"),
                (try await idp.token(audience: "another-api"), "audience"),
                (forged, "signature"),
                (hmac, "algorithm"),
                (unsigned, "algorithm"),
                ("abc.def.ghi", "well-formed"),
            ]
            for (token, reason) in cases {
                let reply = try await fixture.request(.GET, "/v1/keys", key: token)
                #expect(reply.status == 401 && reply.code == "unauthorized", "\(reason): \(reply.text)")
                #expect((reply.json["detail"] as? String)?.contains(reason) == true || reason == "algorithm", "\(reason): \(reply.text)")
            }
        }
        // A server without single sign-on says so.
        try await ServerFixture.run { fixture in
            let reply = try await fixture.request(.GET, "/v1/keys", key: try await idp.token(roles: ["admin"]))
            #expect(reply.status == 401 && (reply.json["detail"] as? String)?.contains("not configured") == true, "\(reply.text)")
        }
    }

    @Test("a JWKS Waymark cannot use is refused when the server starts, naming why")
    func badKeySets() async throws {
        for (jwks, expected) in [
            ("not json", "not a JSON Web Key Set"), (#"{"keys":[]}"#, "no key"),
            (#"{"keys":[{"kty":"oct","alg":"HS256","kid":"s","k":"c2VjcmV0"}]}"#, "RS256 or ES256"),
        ] {
            do {
                _ = try await AccessTokenVerifier(AccessTokenSettings(jwks: jwks, issuer: "i", audience: "a"))
                Issue.record("\(jwks) was taken")
            } catch let error as ApiError {
                #expect(error.message.contains(expected), "\(error.message)")
            }
        }
    }

    /// A token with `alg: none` and no signature.
    static func unsignedToken(_ claims: TestIdentityProvider.Claims) -> String {
        let header = Data(#"{"alg":"none","typ":"JWT","kid":"ec-1"}"#.utf8).base64URL
        let payload = (try? JSONEncoder().encode(claims))?.base64URL ?? ""
        return header + "." + payload + "."
    }
}
