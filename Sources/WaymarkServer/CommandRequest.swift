import Foundation
import WaymarkClient
import WaymarkDomain

/// The commands of one kind (journey, customer, consent) as the API names them: each type with its
/// own fields, and how a body's fields make the command.
protocol CommandVocabulary {
    associatedtype Command: Sendable
    /// What the commands are of, for messages ("journey").
    static var subject: String { get }
    /// The command types with their own fields.
    static var fields: KeyValuePairs<String, [String]> { get }
    static func command(_ type: String, _ object: inout JSONObject) throws -> Command
}

/// A command as the API takes it: `{"type": "move-to-stage", "stage": "fulfilment", "commandId":
/// "…"}`, the command's own fields beside its type and the sending context (`commandId`, `actor`,
/// `sourceSystem`, `occurredAt`). Every field is checked; an unknown one is refused.
struct CommandRequest<Vocabulary: CommandVocabulary> {
    var command: Vocabulary.Command
    var commandId: UUID?
    var actor: String?
    var sourceSystem: String?
    var occurredAt: Date?

    static var types: [String] { Vocabulary.fields.map(\.key) }
    /// What any command may carry beside its own fields.
    static var contextFields: [String] { ["type", "commandId", "actor", "sourceSystem", "occurredAt"] }

    init(_ body: JSONValue) throws {
        var object = try JSONObject(body, path: "body")
        let type = try object.string("type")
        guard let own = Vocabulary.fields.first(where: { $0.key == type })?.value else {
            throw ApiError(
                .invalidValue, "body.type '\(type.prefix(40))' is no \(Vocabulary.subject) command; one of: \(Self.types.joined(separator: ", "))",
                field: "body.type")
        }
        // A misspelt field is named before the field it was meant to be is missed.
        try object.refuseUnknown(allowed: Self.contextFields + own, what: "a \(type) command")
        commandId = try object.optionalUUID("commandId")
        actor = try object.optionalString("actor")
        sourceSystem = try object.optionalString("sourceSystem")
        occurredAt = try object.optionalTimestamp("occurredAt")
        command = try Vocabulary.command(type, &object)
        try object.finish()
    }
}

enum JourneyCommands: CommandVocabulary {
    static let subject = "journey"
    static let fields: KeyValuePairs<String, [String]> = [
        "start": ["customerId", "journeyType", "tier", "externalProcessId", "owner"], "reach-milestone": ["milestone"], "move-to-stage": ["stage"],
        "request-handoff": ["toStage", "facts"], "accept-handoff": ["by"], "reject-handoff": ["by", "reason"], "wait-on-customer": ["reason"],
        "resume": [], "reassign-owner": ["to"], "complete": [], "cancel": ["reason"], "record-compensation": ["compensation"],
        "record-feedback": ["kind", "score", "channel", "comment"], "acknowledge-escalation": ["escalationId", "by", "note"],
    ]

    static func command(_ type: String, _ object: inout JSONObject) throws -> JourneyCommand {
        switch type {
        case "start":
            return .start(
                .init(
                    customerId: try object.string("customerId"), journeyType: try object.string("journeyType"), tier: try object.string("tier"),
                    externalProcessId: try object.optionalString("externalProcessId"), owner: try object.optionalString("owner")))
        case "reach-milestone": return .reachMilestone(try object.string("milestone"))
        case "move-to-stage": return .moveToStage(try object.string("stage"))
        case "request-handoff": return .requestHandoff(toStage: try object.string("toStage"), facts: try object.optionalStringMap("facts") ?? [:])
        case "accept-handoff": return .acceptHandoff(by: try object.string("by"))
        case "reject-handoff": return .rejectHandoff(by: try object.string("by"), reason: try object.string("reason"))
        case "wait-on-customer": return .waitOnCustomer(reason: try object.string("reason"))
        case "resume": return .resume
        case "reassign-owner": return .reassignOwner(to: try object.string("to"))
        case "complete": return .complete
        case "cancel": return .cancel(reason: try object.string("reason"))
        case "record-compensation": return .recordCompensation(try object.string("compensation"))
        case "record-feedback":
            let kindText = try object.string("kind")
            guard let kind = JourneyCommand.Feedback.Kind(rawValue: kindText) else {
                throw ApiError(.invalidValue, "body.kind '\(kindText.prefix(40))' is no feedback kind: csat or nps", field: "body.kind")
            }
            let score = try object.integer("score")
            guard let small = Int(exactly: score) else { throw ApiError(.invalidValue, "body.score is out of range", field: "body.score") }
            return .recordFeedback(
                .init(kind: kind, score: small, channel: try object.string("channel"), comment: try object.optionalString("comment").map { PersonalData($0) }))
        case "acknowledge-escalation":
            return .acknowledgeEscalation(escalationId: try object.string("escalationId"), by: try object.string("by"), note: try object.optionalString("note"))
        default:
            throw ApiError(.invalidValue, "body.type '\(type.prefix(40))' is no journey command", field: "body.type")
        }
    }
}

/// Customer records, as the API names their commands; the name, e-mail and phone are personal data.
enum CustomerCommands: CommandVocabulary {
    enum Command: Sendable {
        case register(name: String, email: String?, phone: String?, tier: String)
        case linkExternalID(ExternalID)
        case changeTier(String)
        case mergeInto(survivor: String)
    }
    static let subject = "customer"
    static let fields: KeyValuePairs<String, [String]> = [
        "register": ["name", "email", "phone", "tier"], "link-external-id": ["system", "externalId"], "change-tier": ["tier"],
        "merge-into": ["survivor"],
    ]

    static func command(_ type: String, _ object: inout JSONObject) throws -> Command {
        switch type {
        case "register":
            return .register(
                name: try object.string("name"), email: try object.optionalString("email"), phone: try object.optionalString("phone"),
                tier: try object.string("tier"))
        case "link-external-id": return .linkExternalID(ExternalID(system: try object.string("system"), id: try object.string("externalId")))
        case "change-tier": return .changeTier(try object.string("tier"))
        case "merge-into": return .mergeInto(survivor: try object.string("survivor"))
        default: throw ApiError(.invalidValue, "body.type '\(type.prefix(40))' is no customer command", field: "body.type")
        }
    }
}

enum ConsentCommands: CommandVocabulary {
    static let subject = "consent"
    static let fields: KeyValuePairs<String, [String]> = [
        "give": record, "refuse": record, "withdraw": ["purpose", "channel", "proofReference"],
        "record-propagation": ["purpose", "channel", "system", "decision", "acknowledgement", "error"],
    ]
    static let record = ["purpose", "channel", "legalBasis", "noticeVersion", "collectionPoint", "proofReference", "expiresAt"]

    static func command(_ type: String, _ object: inout JSONObject) throws -> ConsentCommand {
        let scope = ConsentScope(purpose: try object.string("purpose"), channel: try object.string("channel"))
        switch type {
        case "give", "refuse":
            let basisText = try object.string("legalBasis")
            guard let basis = LegalBasis(rawValue: basisText) else {
                throw ApiError(
                    .invalidValue,
                    "body.legalBasis '\(basisText.prefix(40))' is no legal basis; one of: \(LegalBasis.allCases.map(\.rawValue).joined(separator: ", "))",
                    field: "body.legalBasis")
            }
            let record = ConsentRecord(
                scope: scope, legalBasis: basis, noticeVersion: try object.string("noticeVersion"), collectionPoint: try object.string("collectionPoint"),
                proofReference: try object.string("proofReference"), expiresAt: try object.optionalTimestamp("expiresAt"))
            return type == "give" ? .give(record) : .refuse(record)
        case "withdraw": return .withdraw(scope, proofReference: try object.string("proofReference"))
        case "record-propagation":
            guard let decision = try object.optionalUUID("decision") else {
                throw ApiError(.missingField, "body.decision is required", field: "body.decision")
            }
            return .recordPropagation(
                ConsentPropagation(
                    scope: scope, system: try object.string("system"), decision: decision, acknowledgement: try object.optionalString("acknowledgement"),
                    error: try object.optionalString("error")))
        default: throw ApiError(.invalidValue, "body.type '\(type.prefix(40))' is no consent command", field: "body.type")
        }
    }
}

/// Integration events to append: `{"events": [{"id"?, "type", "data", "metadata"?}]}`.
struct AppendRequest {
    struct Event {
        var id: UUID?
        var type: String
        var data: JSONValue
        var correlationId: String?
        var causationId: String?
        var actor: String?
        var sourceSystem: String?
        var occurredAt: Date?
        var extra: [String: String]
    }

    var events: [Event]

    /// At most this many events per request.
    static let maxEvents = 1_000

    init(_ body: JSONValue) throws {
        var object = try JSONObject(body, path: "body")
        guard let items = try object.optionalArray("events") else { throw ApiError(.missingField, "body.events is required", field: "body.events") }
        guard !items.isEmpty, items.count <= Self.maxEvents else {
            throw ApiError(.invalidValue, "body.events holds 1 to \(Self.maxEvents) events, not \(items.count)", field: "body.events")
        }
        events = try items.enumerated().map { index, item in
            var event = try JSONObject(item, path: "body.events[\(index)]")
            let id = try event.optionalUUID("id")
            let type = try event.string("type")
            let data = try event.anyValue("data")
            guard case .object = data else {
                throw ApiError(.wrongType, "body.events[\(index)].data must be an object, not \(data.kind)", field: "body.events[\(index)].data")
            }
            guard data.numbersKeptExactly else {
                throw ApiError(
                    .invalidValue, "body.events[\(index)].data holds a whole number beyond 64 bits, which would not be kept exactly; send it as a string",
                    field: "body.events[\(index)].data")
            }
            var parsed = Event(
                id: id, type: type, data: data, correlationId: nil, causationId: nil, actor: nil, sourceSystem: nil, occurredAt: nil, extra: [:])
            if var metadata = try event.optionalObject("metadata") {
                parsed.correlationId = try metadata.optionalString("correlationId")
                parsed.causationId = try metadata.optionalString("causationId")
                parsed.actor = try metadata.optionalString("actor")
                parsed.sourceSystem = try metadata.optionalString("sourceSystem")
                parsed.occurredAt = try metadata.optionalTimestamp("occurredAt")
                parsed.extra = try metadata.optionalStringMap("extra") ?? [:]
                try metadata.finish()
            }
            try event.finish()
            return parsed
        }
        try object.finish()
    }
}
