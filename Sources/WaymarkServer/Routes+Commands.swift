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
        /// A consent decision's id: what a downstream system names when it reports applying it.
        var decisionId: UUID?

        init(commandId: UUID, _ result: CommandResult) {
            self.commandId = commandId
            replayed = result.replayed
            events = result.events.map {
                Event(stream: $0.streamName, id: $0.id, type: $0.type, streamVersion: $0.streamVersion, position: $0.position.description)
            }
        }

        /// As JSON, the form `JSONEncoder` gave it (UUIDs in upper case).
        var json: JSONValue {
            var fields: [String: JSONValue] = [
                "commandId": .string(commandId.uuidString), "replayed": .bool(replayed),
                "events": .array(
                    events.map {
                        .object([
                            "stream": .string($0.stream), "id": .string($0.id.uuidString), "type": .string($0.type),
                            "streamVersion": .integer($0.streamVersion), "position": .string($0.position),
                        ])
                    }),
            ]
            if let decisionId { fields["decisionId"] = .string(decisionId.uuidString) }
            return .object(fields)
        }
    }

    func addCommandRoutes(to router: Router<ApiContext>) {
        router.post("v1/journeys/:journeyId/commands") { request, context in
            let principal = try context.require(.service)
            let journeyId = try Self.pathParameter(context, "journeyId")
            return try await send(CommandRequest<JourneyCommands>.self, request, context, by: principal) { command, commandContext in
                try await client.send(command, to: journeyId, context: commandContext)
            }
        }
        let customers = CustomerDirectory(client: client)
        router.post("v1/customers/:customerId/commands") { request, context in
            let principal = try context.require(.service)
            let customerId = try Self.pathParameter(context, "customerId")
            return try await send(CommandRequest<CustomerCommands>.self, request, context, by: principal) { command, commandContext in
                switch command {
                case .register(let name, let email, let phone, let tier):
                    return try await customers.register(
                        customerId: customerId, name: PersonalData(name), email: email.map(PersonalData.init), phone: phone.map(PersonalData.init), tier: tier,
                        context: commandContext)
                case .linkExternalID(let id): return try await customers.link(id, to: customerId, context: commandContext)
                case .changeTier(let tier): return try await customers.changeTier(customerId: customerId, to: tier, context: commandContext)
                case .mergeInto(let survivor): return try await customers.merge(customerId, into: survivor, context: commandContext)
                }
            }
        }
        let consents = ConsentRegistry(client: client)
        router.post("v1/subjects/:subjectId/consent-commands") { request, context in
            let principal = try context.require(.service)
            let subjectId = try Self.pathParameter(context, "subjectId")
            var decisionId: UUID?
            let response = try await send(CommandRequest<ConsentCommands>.self, request, context, by: principal) { command, commandContext in
                let result = try await consents.record(command, subject: subjectId, context: commandContext)
                decisionId = result.decisionId
                return result.command
            } reply: { reply in
                var reply = reply
                reply.decisionId = decisionId
                return reply
            }
            return response
        }
    }

    /// Parses a command of `kind` from `principal` (the route checked its role before reading the
    /// path), sends it with a context carrying the command id (given, or made here and named in the
    /// reply), the actor (default: the key), the source system (the key's, when bound) and the
    /// `traceparent`, and answers what it wrote.
    func send<Vocabulary>(
        _ kind: CommandRequest<Vocabulary>.Type, _ request: Request, _ context: ApiContext, by principal: Principal,
        _ perform: (Vocabulary.Command, CommandContext) async throws -> CommandResult, reply adjust: (CommandReply) -> CommandReply = { $0 }
    ) async throws -> Response {
        let command = try CommandRequest<Vocabulary>(try await context.json(request))
        let sourceSystem = try Self.sourceSystem(claimed: command.sourceSystem, by: principal)
        // Without an id from the caller the command gets one here, and the reply names it: sent
        // again with it, the command is not applied twice.
        let commandId = command.commandId ?? UUID()
        let traceparent = TraceParent.of(request)
        let result = try await perform(
            command.command,
            CommandContext(
                commandId: commandId, actor: command.actor ?? principal.keyId, sourceSystem: sourceSystem, occurredAt: command.occurredAt,
                traceparent: traceparent, extra: [Self.writerKey: principal.keyId]))
        return jsonResponse(
            adjust(CommandReply(commandId: commandId, result)).json, status: result.replayed ? .ok : .created, headers: TraceParent.echo(traceparent))
    }

    /// The source system a write is stamped with: the key's, when it is bound to one (a caller
    /// cannot claim another), else what the caller says.
    static func sourceSystem(claimed: String?, by principal: Principal, field: String = "body.sourceSystem") throws -> String? {
        guard let bound = principal.sourceSystem else { return claimed }
        if let claimed, claimed != bound {
            throw ApiError(
                .sourceSystemMismatch, "this key writes as source system '\(bound)'; it cannot write as '\(claimed.prefix(100))'", field: field)
        }
        return bound
    }

    /// A path parameter, percent-decoded (an escalation id holds `/`, sent as `%2F`): 1 to 200
    /// characters, none of them control characters.
    package static func pathParameter(_ context: ApiContext, _ name: String) throws -> String {
        let raw = try context.parameters.require(name)
        // Most ids hold no escape: Foundation's decoding is left for those that do.
        guard let id = raw.contains("%") ? raw.removingPercentEncoding : raw, !id.isEmpty, id.unicodeScalars.count <= 200,
            // Unicode's control characters (Cc) are exactly U+0000–U+001F and U+007F–U+009F: no
            // look-up of each character's properties needed.
            !id.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        else {
            throw ApiError(.invalidValue, "\(name) must be 1 to 200 characters without control characters", field: "path.\(name)")
        }
        return id
    }
}
