import Foundation
import Hummingbird
import WaymarkPostgres
import WaymarkServer

/// Open escalations by role and level, oldest first, each with its journey and, for operators, an
/// acknowledge button.
struct EscalationsPage {
    struct Row {
        var journeyId: String
        var href: String
        var escalation: JourneyPage.Escalation
        var journeyType: String
        var stage: String
        var department: String
    }
    struct Group {
        var role: String
        var level: Int
        var count: Int
    }
    var filters: [FilterField]
    var groups: [Group]
    var rows: [Row]
    var canAct: Bool
    var truncated: Bool
    var limit: Int
    var message: String?
}

extension Console {
    static let escalationRows = 200

    func addEscalationRoutes(to group: RouterGroup<ApiContext>) {
        group.get("escalations") { request, context in
            _ = try context.require(Self.readers)
            var page = try await openEscalations(request, canAct: context.principal?.roles.contains(.operator) ?? false)
            page.message = request.uri.queryParameters["done"].map { Self.doneMessages[String($0)] ?? "" }
            return try render("escalations", title: "Escalations", page: page, context: context, current: "escalations")
        }
    }

    func openEscalations(_ request: Request, canAct: Bool) async throws -> EscalationsPage {
        let role = try Self.text(request, "role")
        var level: Int?
        if let text = try Self.text(request, "level") {
            guard let number = Int(text), number > 0 else { throw ApiError(.invalidValue, "level must be a whole number from 1", field: "query.level") }
            level = number
        }
        var conditions: [PostgresQuery] = ["e.state = 'open'"]
        if let role { conditions.append("e.role = \(role)") }
        if let level { conditions.append("e.level = \(level)") }
        let escalations = api.view("escalations")
        let limit = Self.escalationRows
        let filter = Self.and(conditions)
        let (rows, groups) = try await api.readViews { transaction in
            (
                try await transaction.query(
                    """
                    SELECT e.journey_id, e.journey_type, e.stage, e.department, e.escalation_id, e.reason, coalesce(e.goal, '') AS goal, e.level, e.role,
                           e.action, e.state, e.raised_at, coalesce(e.acknowledged_by, '') AS acknowledged_by, coalesce(e.note, '') AS note
                    FROM \(escalations) e WHERE \(filter) ORDER BY e.raised_at, e.escalation_id LIMIT \(limit + 1)
                    """),
                try await transaction.query(
                    "SELECT role, level, count(*) AS n FROM \(escalations) e WHERE e.state = 'open' GROUP BY 1, 2 ORDER BY 1, 2")
            )
        }
        return EscalationsPage(
            filters: [FilterField(name: "role", label: "Role", value: role), FilterField(name: "level", label: "Level", value: level.map(String.init))],
            groups: try groups.map {
                .init(
                    role: try $0.decode(String.self, column: "role"), level: try $0.decode(Int.self, column: "level"),
                    count: Int(try $0.decode(Int64.self, column: "n")))
            },
            rows: try rows.prefix(limit).map { row in
                let journeyId = try row.decode(String.self, column: "journey_id")
                return .init(
                    journeyId: journeyId, href: Self.journeyHref(journeyId), escalation: try Self.escalation(row),
                    journeyType: try row.decode(String.self, column: "journey_type"), stage: try row.decode(String.self, column: "stage"),
                    department: try row.decode(String.self, column: "department"))
            },
            canAct: canAct, truncated: rows.count > limit, limit: limit, message: nil)
    }
}
