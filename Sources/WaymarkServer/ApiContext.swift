import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A request's context: Hummingbird's, and the caller once a key or token named one.
public struct ApiContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    /// The connection: a live feed closes it when the client stops reading.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        principal = nil
        channel = source.channel
    }

    /// Bodies past this are refused with `body_too_large` (413), unread.
    public var maxUploadSize: Int { ApiServer.maxBodySize }

    /// The caller, when its role is one of `roles`: else 401 (no credentials) or 403.
    package func require(_ roles: ApiRole...) throws -> Principal {
        try require(roles)
    }

    /// The caller, when its role is one of `roles`: else 401 (no credentials) or 403.
    package func require(_ roles: [ApiRole]) throws -> Principal {
        guard let principal else {
            throw ApiError(.unauthorized, "this operation needs credentials: an API key as 'Authorization: Bearer wmk_…', or a token")
        }
        guard !principal.roles.isDisjoint(with: roles) else {
            let held = principal.roles.isEmpty ? "no role" : "role " + principal.roles.map(\.rawValue).sorted().joined(separator: ", ")
            throw ApiError(.forbidden, "a caller with \(held) may not do this; it takes role \(roles.map(\.rawValue).joined(separator: " or "))")
        }
        return principal
    }

    /// The request body as JSON, at most `maxUploadSize`; the content type must say JSON.
    func json(_ request: Request) async throws -> JSONValue {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw ApiError(.unsupportedMediaType, "the body must be application/json, not \(type.prefix(80))")
        }
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw ApiError(.bodyTooLarge, "the body is larger than \(maxUploadSize) bytes")
        }
        return try JSONValue.parse(buffer)
    }
}

/// Names the caller from `Authorization: Bearer <key or token>`. A request without the header goes
/// on with no caller (health, the contract, and a 401 from any route that needs one); a header with
/// an unknown, revoked or expired key, or a token that does not verify, is refused here.
package struct KeyAuthentication: RouterMiddleware {
    package typealias Context = ApiContext
    let keys: ApiKeyStore
    /// Verifies single sign-on tokens; nil: API keys only.
    let tokens: AccessTokenVerifier?

    /// Routes anyone may call: a stale key sent along (a probe's, a browser's) does not lock them.
    static let publicRoutes: Set<String> = ["/healthz", "/readyz", "/openapi.yaml"]

    package func handle(_ request: Request, context: ApiContext, next: (Request, ApiContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], !Self.publicRoutes.contains(context.endpointPath ?? "") else {
            return try await next(request, context)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw ApiError(.unauthorized, "the Authorization header takes 'Bearer <key>'")
        }
        var context = context
        context.principal = try await Self.principal(parts[1].trimmingSpaces, keys: keys, tokens: tokens)
        return try await next(request, context)
    }

    /// The caller an API key or a single sign-on token names; 401 when it names none.
    package static func principal(_ credential: String, keys: ApiKeyStore, tokens: AccessTokenVerifier?) async throws -> Principal {
        if AccessTokenVerifier.isToken(credential) {
            guard let tokens else { throw ApiError(.unauthorized, "this server takes API keys only; single sign-on tokens are not configured") }
            return try await tokens.authenticate(credential)
        }
        guard let principal = try await keys.authenticate(credential) else {
            throw ApiError(.unauthorized, "the key is unknown, revoked or expired")
        }
        return principal
    }
}
