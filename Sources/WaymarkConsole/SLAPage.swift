import Foundation
import Hummingbird
import Mustache
import WaymarkPostgres
import WaymarkServer

/// SLA breaches and risk: clocks breached and still running, and clocks past 75 % of their
/// target, by when they breach (the longest breached first, then the least time left), with
/// countdowns to the breach.
struct SLAPage {
    struct Row: MustacheParent {
        var journeyId: String
        var href: String
        var goal: String
        var tier: String
        var department: String
        var state: String
        var stateWords: String
        var percent: String
        var percentText: String
        var remaining: String
        var breachAt: String
        var breachAtMachine: String
        var counting: Bool
        var breached: Bool

        // Looked up by name: a template otherwise reflects on the row for each field it shows.
        func child(named name: String) -> Any? {
            switch name {
            case "journeyId": journeyId
            case "href": href
            case "goal": goal
            case "tier": tier
            case "department": department
            case "state": state
            case "stateWords": stateWords
            case "percent": percent
            case "percentText": percentText
            case "remaining": remaining
            case "breachAt": breachAt
            case "breachAtMachine": breachAtMachine
            case "counting": counting
            case "breached": breached
            default: nil
            }
        }
    }
    struct Count {
        var label: String
        var breached: Int
        var atRisk: Int
    }
    var filters: [FilterField]
    var rows: [Row]
    var byDepartment: [Count]
    var hasCounts: Bool
    var breached: Int
    var atRisk: Int
    var limit: Int
    var truncated: Bool
}

extension Console {
    static let slaRows = 200

    /// When a clock breaches: a running one at its `breach_at` (stored), a paused one short of its
    /// target as if it resumed now (its business time left, from now), so that no calendar is
    /// consulted to order the page.
    static let slaOrder: PostgresQuery = "CASE WHEN s.state = 'paused' THEN now() + (s.target - s.elapsed) ELSE s.breach_at END"

    func addSLARoutes(to group: RouterGroup<ApiContext>) {
        group.get("sla") { request, context in
            _ = try context.require(Self.readers)
            return try render("sla", title: "SLA breaches and risk", page: try await slaRisk(request), context: context, current: "sla")
        }
    }

    func slaRisk(_ request: Request) async throws -> SLAPage {
        let goals = Set(catalog.versions.flatMap { $0.slaGoals.map(\.name) }).sorted()
        let departments = Set(catalog.versions.flatMap { $0.stages.map(\.department) }).sorted()
        let tier = try Self.choice(request, "tier", catalog.tiers.sorted())
        let department = try Self.choice(request, "department", departments)
        let goal = try Self.choice(request, "goal", goals)
        let type = try Self.choice(request, "type", journeyTypes)
        // Both read stored instants (a running clock's breach_at, its 75 % mark), not business time
        // counted per clock: on a large store most open clocks are long breached.
        var conditions: [PostgresQuery] = [
            "s.stopped_at IS NULL", "(s.state = 'breached-running' OR (s.state IN ('running', 'paused') AND s.reached_75_at IS NOT NULL))",
        ]
        if let tier { conditions.append("s.tier = \(tier)") }
        if let department { conditions.append("s.department = \(department)") }
        if let goal { conditions.append("s.goal = \(goal)") }
        if let type { conditions.append("s.journey_type = \(type)") }
        let sla = api.view("sla")
        let limit = Self.slaRows
        let filter = Self.and(conditions)
        let (rows, counts) = try await api.readViews { transaction in
            (
                try await transaction.query(
                    """
                    SELECT s.journey_id, s.goal, s.tier, coalesce(s.department, '') AS department, s.state, s.percent_elapsed::float8 AS percent,
                           extract(epoch FROM s.remaining)::float8 AS remaining, s.breach_at
                    FROM \(sla) s WHERE \(filter) ORDER BY \(Self.slaOrder), s.journey_id, s.goal LIMIT \(limit + 1)
                    """),
                try await transaction.query(
                    """
                    SELECT coalesce(s.department, '') AS department, count(*) FILTER (WHERE s.state = 'breached-running') AS breached,
                           count(*) FILTER (WHERE s.state <> 'breached-running') AS at_risk
                    FROM \(sla) s WHERE \(filter) GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1
                    """)
            )
        }
        let now = Date()
        let byDepartment = try counts.map {
            SLAPage.Count(
                label: try $0.decode(String.self, column: "department"), breached: Int(try $0.decode(Int64.self, column: "breached")),
                atRisk: Int(try $0.decode(Int64.self, column: "at_risk")))
        }
        return SLAPage(
            filters: [
                FilterField(name: "type", label: "Journey type", value: type, choices: journeyTypes),
                FilterField(name: "tier", label: "Tier", value: tier, choices: catalog.tiers.sorted()),
                FilterField(name: "department", label: "Department", value: department, choices: departments),
                FilterField(name: "goal", label: "Goal", value: goal, choices: goals),
            ],
            rows: try rows.prefix(limit).map { row in
                let state = try row.decode(String.self, column: "state")
                let percent = try row.decode(Double?.self, column: "percent") ?? 0
                let breachAt = try row.decode(Date?.self, column: "breach_at")
                let journeyId = try row.decode(String.self, column: "journey_id")
                return .init(
                    journeyId: journeyId, href: Self.journeyHref(journeyId), goal: try row.decode(String.self, column: "goal"),
                    tier: try row.decode(String.self, column: "tier"), department: try row.decode(String.self, column: "department"), state: state,
                    stateWords: Formatting.words(state), percent: Formatting.percent(percent), percentText: String(format: "%.0f", percent),
                    remaining: Formatting.duration(try row.decode(Double?.self, column: "remaining")), breachAt: Formatting.time(breachAt),
                    breachAtMachine: Formatting.machineTime(breachAt), counting: state == "running" && (breachAt.map { $0 > now } ?? false),
                    breached: state == "breached-running")
            },
            byDepartment: byDepartment, hasCounts: !byDepartment.isEmpty, breached: byDepartment.reduce(0) { $0 + $1.breached },
            atRisk: byDepartment.reduce(0) { $0 + $1.atRisk },
            limit: limit, truncated: rows.count > limit)
    }
}
