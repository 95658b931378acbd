import Foundation
import Hummingbird
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections

extension ApiServer {
    struct ConsentReply: Encodable {
        var subjectId: String
        /// The instant asked about; absent for now.
        var asOf: String?
        var consents: [JSONValue]
        /// Per downstream system, for the current decisions (absent for an instant in the past).
        var propagation: [JSONValue]?
    }

    struct ProjectionReply: Encodable {
        var name: String
        var version: Int
        var build: Int
        var state: String
        var checkpoint: String
        var lagEvents: Int64
        var lagSeconds: Double
        var eventsHandled: Int64
        var eventsIgnored: Int64
        var eventsSkipped: Int64
        var failedEventId: UUID?
        var error: String?
        var updatedAt: String
    }

    struct RebuildReply: Encodable {
        var name: String
        var build: Int
    }

    struct ProcessManagerReply: Encodable {
        struct Kind: Encodable {
            var kind: String
            var pending: Int
            var overdue: Int
        }
        struct Instance: Encodable {
            var instance: String
            var startedAt: String
            var seenAt: String
            var fired: Int
        }
        var pending: Int
        var overdue: Int
        var oldestOverdue: String?
        var lastFired: String?
        var kinds: [Kind]
        var instances: [Instance]
    }

    func addOperationRoutes(to router: Router<ApiContext>) {
        router.get("v1/subjects/:subjectId/consents") { request, context in
            _ = try context.require(.analyst, .operator, .service)
            let subjectId = try Self.pathParameter(context, "subjectId")
            for (name, _) in request.uri.queryParameters where name != "asOf" {
                throw ApiError(.unknownField, "query parameter \(name) is not a filter here; the filter: asOf", field: "query.\(name)")
            }
            var asOf: Date?
            if let text = request.uri.queryParameters["asOf"].map(String.init) {
                guard let date = JSONObject.timestamp(text) else {
                    throw ApiError(.invalidValue, "query parameter asOf must be an RFC 3339 time, not '\(text.prefix(60))'", field: "query.asOf")
                }
                asOf = date
            }
            return try jsonResponse(try await consents(subjectId, asOf: asOf))
        }
        router.get("v1/projections") { _, context in
            _ = try context.require(.operator)
            let builds: [ProjectionStatus]
            if let projections { builds = try await projections.status() } else { builds = try await ProjectionRunner.status(store: store) }
            return try jsonResponse(
                builds.map {
                    ProjectionReply(
                        name: $0.record.name, version: $0.record.version, build: $0.record.build, state: $0.record.state.rawValue,
                        checkpoint: $0.checkpoint.description, lagEvents: $0.lagEvents, lagSeconds: $0.lagSeconds, eventsHandled: $0.record.eventsHandled,
                        eventsIgnored: $0.record.eventsIgnored, eventsSkipped: $0.record.eventsSkipped, failedEventId: $0.record.failedEventId,
                        error: $0.record.error, updatedAt: TimestampText.iso8601($0.record.updatedAt))
                })
        }
        router.post("v1/projections/:name/rebuild") { _, context in
            _ = try context.require(.operator)
            let name = try Self.pathParameter(context, "name")
            guard let projections else { throw ApiError(.notFound, "this server knows no projections to rebuild") }
            let build = try await projections.requestRebuild(name)
            return try jsonResponse(RebuildReply(name: name, build: build), status: .accepted)
        }
        router.get("v1/process-manager") { _, context in
            _ = try context.require(.operator)
            let status = try await ProcessManagerStatus.read(store, now: Date(), logger: logger)
            return try jsonResponse(
                ProcessManagerReply(
                    pending: status.pending, overdue: status.overdue, oldestOverdue: status.oldestOverdue.map(TimestampText.iso8601),
                    lastFired: status.lastFired.map(TimestampText.iso8601),
                    kinds: status.kinds.map { .init(kind: $0.kind, pending: $0.pending, overdue: $0.overdue) },
                    instances: status.instances.map {
                        .init(instance: $0.instance, startedAt: TimestampText.iso8601($0.startedAt), seenAt: TimestampText.iso8601($0.seenAt), fired: $0.fired)
                    }))
        }
    }

    func consents(_ subjectId: String, asOf: Date?) async throws -> ConsentReply {
        try await readViews { transaction in
            func rows(_ query: PostgresQuery) async throws -> [JSONValue] { try await Self.viewRows(query, in: transaction) }
            guard let asOf else {
                return ConsentReply(
                    subjectId: subjectId, asOf: nil,
                    consents: try await rows(
                        "SELECT row_to_json(v)::text FROM \(self.view("consents")) v WHERE subject_id = \(subjectId) ORDER BY purpose, channel"),
                    propagation: try await rows(
                        "SELECT row_to_json(v)::text FROM \(self.view("consent_propagation")) v WHERE subject_id = \(subjectId) ORDER BY purpose, channel, system"
                    ))
            }
            return ConsentReply(
                subjectId: subjectId, asOf: TimestampText.iso8601(asOf),
                consents: try await rows(
                    """
                    SELECT row_to_json(v)::text FROM \(self.view("consent_history")) v
                    WHERE subject_id = \(subjectId) AND valid_from <= \(asOf) AND (valid_to IS NULL OR valid_to > \(asOf)) ORDER BY purpose, channel
                    """),
                propagation: nil)
        }
    }
}
