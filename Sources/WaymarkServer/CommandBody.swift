import Foundation
import WaymarkClient
import WaymarkDomain
import WaymarkPostgres

/// A journey command as the API takes it: the body of `POST /v1/journeys/{journeyId}/commands`.
/// For Swift callers that speak HTTP (the HTTP bench, a console posting a command) and for tests
/// that prove the API reads back what this writes.
public enum JourneyCommandBody {
    /// The JSON text of `command` with its context's id, actor, source system and time.
    public static func json(_ command: JourneyCommand, context: CommandContext = .init()) -> String {
        var fields: [String: JSONValue] = [:]
        func set(_ name: String, _ value: String?) { if let value { fields[name] = .string(value) } }
        switch command {
        case .start(let start):
            fields["type"] = .string("start")
            set("customerId", start.customerId)
            set("journeyType", start.journeyType)
            set("tier", start.tier)
            set("externalProcessId", start.externalProcessId)
            set("owner", start.owner)
        case .reachMilestone(let milestone):
            fields = ["type": .string("reach-milestone"), "milestone": .string(milestone)]
        case .moveToStage(let stage):
            fields = ["type": .string("move-to-stage"), "stage": .string(stage)]
        case .requestHandoff(let toStage, let facts):
            fields = ["type": .string("request-handoff"), "toStage": .string(toStage)]
            if !facts.isEmpty { fields["facts"] = .object(facts.mapValues { .string($0) }) }
        case .acceptHandoff(let by):
            fields = ["type": .string("accept-handoff"), "by": .string(by)]
        case .rejectHandoff(let by, let reason):
            fields = ["type": .string("reject-handoff"), "by": .string(by), "reason": .string(reason)]
        case .waitOnCustomer(let reason):
            fields = ["type": .string("wait-on-customer"), "reason": .string(reason)]
        case .resume:
            fields = ["type": .string("resume")]
        case .reassignOwner(let to):
            fields = ["type": .string("reassign-owner"), "to": .string(to)]
        case .complete:
            fields = ["type": .string("complete")]
        case .cancel(let reason):
            fields = ["type": .string("cancel"), "reason": .string(reason)]
        case .recordCompensation(let compensation):
            fields = ["type": .string("record-compensation"), "compensation": .string(compensation)]
        case .recordFeedback(let feedback):
            fields = [
                "type": .string("record-feedback"), "kind": .string(feedback.kind.rawValue), "score": .integer(Int64(feedback.score)),
                "channel": .string(feedback.channel),
            ]
            set("comment", feedback.comment?.value)
        case .acknowledgeEscalation(let escalationId, let by, let note):
            fields = ["type": .string("acknowledge-escalation"), "escalationId": .string(escalationId), "by": .string(by)]
            set("note", note)
        }
        set("commandId", context.commandId?.uuidString.lowercased())
        set("actor", context.sender?.actor)
        set("sourceSystem", context.sender?.sourceSystem)
        set("occurredAt", context.occurredAt.map { TimestampText.iso8601($0) })
        return JSONValue.object(fields).text
    }
}
