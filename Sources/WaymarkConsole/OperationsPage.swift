import Foundation
import Hummingbird
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkServer

/// For operators: each projection build (state, lag, progress of a rebuild, a rebuild button),
/// the process manager's deadlines and instances, and the notifications' delivery health.
struct OperationsPage {
    struct Build {
        var name: String
        var version: Int
        var build: Int
        var state: String
        var live: Bool
        var building: Bool
        var failed: Bool
        var checkpoint: String
        var lagEvents: Int64
        var lag: String
        var handled: Int64
        var progress: String
        var progressText: String
        var error: String
        var rebuildPath: String
    }
    struct Kind {
        var kind: String
        var pending: Int
        var overdue: Int
    }
    struct Instance {
        var instance: String
        var started: String
        var seen: String
        var fired: Int
    }
    struct Delivery {
        var state: String
        var count: Int
        var latency: String
        var bad: Bool
    }
    var builds: [Build]
    var pending: Int
    var overdue: Int
    var oldestOverdue: String
    var lastFired: String
    var kinds: [Kind]
    var instances: [Instance]
    var deliveries: [Delivery]
    var canRebuild: Bool
    var message: String?
}

extension Console {
    func addOperationRoutes(to group: RouterGroup<ApiContext>) {
        group.get("operations") { request, context in
            _ = try context.require(.operator)
            var page = try await operations()
            if let name = request.uri.queryParameters["rebuilding"] { page.message = "A rebuild of \(name) was requested: its build appears below." }
            return try render("operations", title: "Operations", page: page, context: context, current: "operations")
        }
        group.post("operations/projections/:name/rebuild") { _, context in
            _ = try context.require(.operator)
            let name = try ApiServer.pathParameter(context, "name")
            guard let projections = api.projections else { throw ApiError(.notFound, "this server knows no projections to rebuild") }
            _ = try await projections.requestRebuild(name)
            return Response.redirect(to: "/console/operations" + Formatting.query([("rebuilding", name)]), type: .normal)
        }
    }

    func operations() async throws -> OperationsPage {
        // The runner knows what each projection reads; lag counts only those events.
        let builds: [ProjectionStatus]
        if let projections = api.projections { builds = try await projections.status() } else { builds = try await ProjectionRunner.status(store: api.store) }
        let manager = try await ProcessManagerStatus.read(api.store, now: Date(), logger: logger)
        let notifications = api.view("notifications")
        let deliveries = try await api.readViews { transaction in
            try await transaction.query(
                """
                SELECT state, count(*) AS n, extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY latency))::float8 AS latency
                FROM \(notifications) WHERE requested_at > now() - interval '24 hours' GROUP BY 1 ORDER BY 1
                """)
        }
        return OperationsPage(
            builds: builds.map { status in
                let record = status.record
                let total = Double(record.eventsHandled + max(status.lagEvents, 0))
                let share = total > 0 ? Double(record.eventsHandled) / total * 100 : 100
                return .init(
                    name: record.name, version: record.version, build: record.build, state: record.state.rawValue, live: record.state == .live,
                    building: record.state != .live && record.state != .failed, failed: record.state == .failed, checkpoint: status.checkpoint.description,
                    lagEvents: status.lagEvents, lag: Formatting.duration(status.lagSeconds), handled: record.eventsHandled,
                    progress: Formatting.percent(share), progressText: String(format: "%.0f", min(share, 100)), error: record.error ?? "",
                    rebuildPath: "/console/operations/projections/\(record.name)/rebuild")
            },
            pending: manager.pending, overdue: manager.overdue, oldestOverdue: Formatting.time(manager.oldestOverdue),
            lastFired: Formatting.time(manager.lastFired),
            kinds: manager.kinds.map { .init(kind: Formatting.words($0.kind), pending: $0.pending, overdue: $0.overdue) },
            instances: manager.instances.map {
                .init(instance: $0.instance, started: Formatting.time($0.startedAt), seen: Formatting.time($0.seenAt), fired: $0.fired)
            },
            deliveries: try deliveries.map { row in
                let state = try row.decode(String.self, column: "state")
                return .init(
                    state: state, count: Int(try row.decode(Int64.self, column: "n")),
                    latency: Formatting.duration(try row.decode(Double?.self, column: "latency")),
                    bad: state == "failed")
            },
            canRebuild: api.projections != nil, message: nil)
    }
}
