import Foundation
import HTTPTypes
import Hummingbird
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore

extension ApiServer {
    /// What a command wrote, as the API answers it.
    struct CommandReply: Codable {
        struct Event: Codable {
            var stream: String
            var id: UUID
            var type: String
            var streamVersion: Int64
            var position: String
        }
        var commandId: UUID
        /// True when the command id had been handled before: nothing new was written.
        var replayed: Bool
        var events: [Event]

        init(commandId: UUID, _ result: CommandResult) {
            self.commandId = commandId
            replayed = result.replayed
            events = result.events.map {
                Event(stream: $0.streamName, id: $0.id, type: $0.type, streamVersion: $0.streamVersion, position: $0.position.description)
            }
        }
    }

    func addCommandRoutes(to router: Router<ApiContext>) {
        router.post("v1/journeys/:journeyId/commands") { request, context in
            let principal = try context.require(.service)
            let journeyId = try Self.pathParameter(context, "journeyId")
            let command = try JourneyCommandRequest(try await context.json(request))
            let sourceSystem = try Self.sourceSystem(claimed: command.sourceSystem, by: principal)
            // Without an id from the caller the command gets one here, and the reply names it:
            // sent again with it, the command is not applied twice.
            let commandId = command.commandId ?? UUID()
            let result = try await client.send(
                command.command, to: journeyId,
                context: CommandContext(
                    commandId: commandId, actor: command.actor ?? principal.keyId, sourceSystem: sourceSystem, occurredAt: command.occurredAt))
            return try jsonResponse(CommandReply(commandId: commandId, result), status: result.replayed ? .ok : .created)
        }
    }

    /// The source system a write is stamped with: the key's, when it is bound to one (a caller
    /// cannot claim another), else what the caller says.
    static func sourceSystem(claimed: String?, by principal: Principal) throws -> String? {
        guard let bound = principal.sourceSystem else { return claimed }
        if let claimed, claimed != bound {
            throw ApiError(
                .sourceSystemMismatch, "this key writes as source system '\(bound)'; it cannot write as '\(claimed.prefix(100))'", field: "body.sourceSystem")
        }
        return bound
    }

    /// A path parameter, percent-decoded (an escalation id holds `/`, sent as `%2F`): 1 to 200
    /// characters, none of them control characters.
    static func pathParameter(_ context: ApiContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        guard let id = raw.removingPercentEncoding, !id.isEmpty, id.count <= 200,
            !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw ApiError(.invalidValue, "\(name) must be 1 to 200 characters without control characters", field: "path.\(name)")
        }
        return id
    }
}
