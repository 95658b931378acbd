import Foundation
import Hummingbird
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

extension ApiServer {
    static let journeys = ViewListing(
        view: "journeys",
        filters: [
            .init(parameter: "type", column: "journey_type", kind: .text), .init(parameter: "tier", column: "tier", kind: .text),
            .init(parameter: "stage", column: "stage", kind: .text), .init(parameter: "department", column: "department", kind: .text),
            .init(parameter: "status", column: "status", kind: .choice(["active", "waiting_on_customer", "stalled", "completed", "cancelled"])),
            .init(parameter: "owner", column: "owner", kind: .text),
            .init(parameter: "customer", column: "survivor_customer_id", kind: .text),
            .init(parameter: "startedFrom", column: "started_at", kind: .from), .init(parameter: "startedBefore", column: "started_at", kind: .before),
        ], order: [("started_at", "timestamptz"), ("journey_id", "text")])

    static let sla = ViewListing(
        view: "sla",
        filters: [
            .init(parameter: "state", column: "state", kind: .choice(["running", "paused", "met", "breached-running", "breached-closed", "cancelled"])),
            .init(parameter: "everBreached", column: "ever_breached", kind: .flag),
            .init(parameter: "remainingBelow", column: "remaining", kind: .below), .init(parameter: "tier", column: "tier", kind: .text),
            .init(parameter: "department", column: "department", kind: .text), .init(parameter: "goal", column: "goal", kind: .text),
            .init(parameter: "type", column: "journey_type", kind: .text),
        ], order: [("journey_id", "text"), ("goal", "text")])

    static let escalations = ViewListing(
        view: "escalations",
        filters: [
            .init(parameter: "state", column: "state", kind: .choice(["open", "acknowledged", "resolved"])),
            .init(parameter: "role", column: "role", kind: .text),
            .init(parameter: "level", column: "level", kind: .integer), .init(parameter: "reason", column: "reason", kind: .text),
            .init(parameter: "type", column: "journey_type", kind: .text), .init(parameter: "journey", column: "journey_id", kind: .text),
        ], order: [("raised_at", "timestamptz"), ("escalation_id", "text")])

    /// A journey with everything the views know of it.
    struct JourneyDetail: Encodable {
        struct Event: Encodable {
            var streamVersion: Int64
            var type: String
            var occurredAt: String
            var recordedAt: String
            var actor: String?
            var sourceSystem: String?
        }
        var journey: JSONValue
        var stages: [JSONValue]
        var handoffs: [JSONValue]
        var sla: [JSONValue]
        var escalations: [JSONValue]
        var notifications: [JSONValue]
        /// The journey's stream: what happened, who did it, from which system (not the events'
        /// data, which can hold personal fields).
        var events: [Event]
    }

    func addViewRoutes(to router: Router<ApiContext>) {
        router.get("v1/journeys") { request, context in
            _ = try context.require(.analyst, .operator)
            return try jsonResponse(try await page(Self.journeys, request))
        }
        router.get("v1/sla") { request, context in
            _ = try context.require(.analyst, .operator)
            return try jsonResponse(try await page(Self.sla, request))
        }
        router.get("v1/escalations") { request, context in
            _ = try context.require(.analyst, .operator)
            return try jsonResponse(try await page(Self.escalations, request))
        }
        router.get("v1/journeys/:journeyId") { _, context in
            _ = try context.require(.analyst, .operator)
            let journeyId = try Self.pathParameter(context, "journeyId")
            return try jsonResponse(try await journeyDetail(journeyId))
        }
        router.post("v1/journeys/:journeyId/escalations/:escalationId/acknowledgement") { request, context in
            let principal = try context.require(.operator)
            let journeyId = try Self.pathParameter(context, "journeyId")
            let escalationId = try Self.pathParameter(context, "escalationId")
            var body = try JSONObject(try await context.json(request), path: "body")
            let by = try body.string("by")
            let note = try body.optionalString("note")
            let commandId = try body.optionalUUID("commandId") ?? UUID()
            try body.finish()
            let result = try await client.send(
                .acknowledgeEscalation(escalationId: escalationId, by: by, note: note), to: journeyId,
                context: CommandContext(commandId: commandId, actor: by, sourceSystem: principal.sourceSystem ?? "waymark-api"))
            return jsonResponse(CommandReply(commandId: commandId, result).json, status: result.replayed ? .ok : .created)
        }
    }

    func journeyDetail(_ journeyId: String) async throws -> JourneyDetail {
        let rows: [String: [JSONValue]] = try await readViews { transaction in
            var out: [String: [JSONValue]] = [:]
            for (name, view, order) in [
                ("journey", "journeys", "journey_id"), ("stages", "time_in_status", "visit_no"), ("handoffs", "handoffs", "handoff_no"),
                ("sla", "sla", "goal"), ("escalations", "escalations", "raised_at, escalation_id"),
                ("notifications", "notifications", "requested_at, notification_id"),
            ] {
                let query: PostgresQuery =
                    "SELECT row_to_json(v)::text FROM \(self.view(view)) v WHERE journey_id = \(journeyId) ORDER BY \(PostgresQuery(sql: order))"
                out[name] = try await Self.viewRows(query, in: transaction)
            }
            return out
        }
        guard let journey = rows["journey"]?.first else {
            throw ApiError(.notFound, "no journey '\(journeyId.prefix(200))' in the views (a journey just started appears once the projections have read it)")
        }
        var events: [JourneyDetail.Event] = []
        var from: Int64? = nil
        repeat {
            let slice = try await store.readStream(JourneyDecider.streamName(journeyId), from: from, limit: 1_000)
            events += slice.events.map {
                JourneyDetail.Event(
                    streamVersion: $0.streamVersion, type: $0.type, occurredAt: TimestampText.iso8601($0.occurredAt),
                    recordedAt: TimestampText.iso8601($0.recordedAt), actor: $0.metadata.actor, sourceSystem: $0.metadata.sourceSystem)
            }
            from = slice.nextVersion
        } while from != nil
        return JourneyDetail(
            journey: journey, stages: rows["stages"] ?? [], handoffs: rows["handoffs"] ?? [], sla: rows["sla"] ?? [],
            escalations: rows["escalations"] ?? [], notifications: rows["notifications"] ?? [], events: events)
    }
}
