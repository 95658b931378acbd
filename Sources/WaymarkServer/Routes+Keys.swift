import Foundation
import HTTPTypes
import Hummingbird
import WaymarkEventStore
import WaymarkPostgres

extension ApiServer {
    struct KeyReply: Codable {
        var keyId: String
        var role: String
        var sourceSystem: String?
        var label: String?
        var createdAt: String
        var createdBy: String
        var expiresAt: String?
        var revokedAt: String?

        init(_ key: ApiKey) {
            keyId = key.keyId
            role = key.role.rawValue
            sourceSystem = key.sourceSystem
            label = key.label
            createdAt = TimestampText.iso8601(key.createdAt)
            createdBy = key.createdBy
            expiresAt = key.expiresAt.map(TimestampText.iso8601)
            revokedAt = key.revokedAt.map(TimestampText.iso8601)
        }
    }

    struct CreatedKey: Codable {
        var key: KeyReply
        /// The key to present as `Authorization: Bearer …`: shown this once, never stored.
        var secret: String
    }

    struct KeyList: Codable {
        var keys: [KeyReply]
    }

    func addKeyRoutes(to router: Router<ApiContext>) {
        router.post("v1/keys") { request, context in
            let admin = try context.require(.admin)
            var body = try JSONObject(try await context.json(request), path: "body")
            let roleText = try body.string("role")
            guard let role = ApiRole(rawValue: roleText) else {
                throw ApiError(
                    .invalidValue, "body.role '\(roleText.prefix(40))' is no role: \(ApiRole.allCases.map(\.rawValue).joined(separator: ", "))",
                    field: "body.role")
            }
            let sourceSystem = try body.optionalString("sourceSystem")
            let label = try body.optionalString("label")
            let expiresAt = try body.optionalTimestamp("expiresAt")
            try body.finish()
            let (key, secret) = try await keys.create(role: role, sourceSystem: sourceSystem, label: label, expiresAt: expiresAt, by: "key:\(admin.keyId)")
            return try jsonResponse(CreatedKey(key: KeyReply(key), secret: secret), status: .created)
        }
        router.get("v1/keys") { _, context in
            _ = try context.require(.admin)
            return try jsonResponse(KeyList(keys: try await keys.list().map(KeyReply.init)))
        }
        router.delete("v1/keys/:keyId") { _, context in
            let admin = try context.require(.admin)
            let keyId = try Self.pathParameter(context, "keyId")
            guard try await keys.revoke(keyId, by: "key:\(admin.keyId)") else { throw ApiError(.notFound, "no key has id '\(keyId.prefix(40))'") }
            return Response(status: .noContent)
        }
    }
}
