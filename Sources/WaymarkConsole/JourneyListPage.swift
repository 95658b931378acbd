import Foundation
import Hummingbird
import Mustache
import WaymarkPostgres
import WaymarkServer

/// Journeys in a list, oldest in its stage first: where a board column's "more" leads.
struct JourneyListPage {
    struct Row: MustacheParent {
        var journeyId: String
        var href: String
        var journeyType: String
        var stage: String
        var department: String
        var owner: String
        var tier: String
        var statusWords: String
        var stalled: Bool
        var inStage: String
        var started: String

        // Looked up by name: a template otherwise reflects on the row for each field it shows.
        func child(named name: String) -> Any? {
            switch name {
            case "journeyId": journeyId
            case "href": href
            case "journeyType": journeyType
            case "stage": stage
            case "department": department
            case "owner": owner
            case "tier": tier
            case "statusWords": statusWords
            case "stalled": stalled
            case "inStage": inStage
            case "started": started
            default: nil
            }
        }
    }
    var filters: [FilterField]
    var rows: [Row]
    var truncated: Bool
    var limit: Int
}

extension Console {
    static let listRows = 200

    func addJourneyListRoutes(to group: RouterGroup<ApiContext>) {
        group.get("journeys") { request, context in
            _ = try context.require(Self.readers)
            return try render("journeys", title: "Journeys", page: try await journeyList(request), context: context, current: "board")
        }
    }

    func journeyList(_ request: Request) async throws -> JourneyListPage {
        let statuses = Self.openStatuses + ["completed", "cancelled"]
        let type = try Self.choice(request, "type", journeyTypes)
        let stage = try Self.text(request, "stage")
        let tier = try Self.choice(request, "tier", catalog.tiers.sorted())
        let owner = try Self.text(request, "owner")
        let status = try Self.choice(request, "status", statuses)
        var conditions: [PostgresQuery] = []
        if let type { conditions.append("journey_type = \(type)") }
        if let stage { conditions.append("stage = \(stage)") }
        if let tier { conditions.append("tier = \(tier)") }
        if let owner { conditions.append("owner = \(owner)") }
        // Open is `ended_at IS NULL`, a stored column; `status` is worked out per row from the clock.
        conditions.append(status.map { "status = \($0)" } ?? "ended_at IS NULL")
        let journeys = api.view("journeys")
        let limit = Self.listRows
        let filter = Self.and(conditions)
        let rows = try await api.readViews { transaction in
            try await transaction.query(
                """
                SELECT journey_id, journey_type, stage, department, coalesce(owner, '') AS owner, tier, status,
                       extract(epoch FROM time_in_stage)::float8 AS in_stage, started_at
                FROM \(journeys) WHERE \(filter) ORDER BY stage_entered_at, journey_id LIMIT \(limit + 1)
                """)
        }
        return JourneyListPage(
            filters: [
                FilterField(name: "type", label: "Journey type", value: type, choices: journeyTypes),
                FilterField(name: "stage", label: "Stage", value: stage),
                FilterField(name: "tier", label: "Tier", value: tier, choices: catalog.tiers.sorted()),
                FilterField(name: "owner", label: "Owner", value: owner),
                FilterField(name: "status", label: "Status", value: status, choices: statuses, anyLabel: "any open"),
            ],
            rows: try rows.prefix(limit).map { row in
                let journeyId = try row.decode(String.self, column: "journey_id")
                let status = try row.decode(String.self, column: "status")
                return .init(
                    journeyId: journeyId, href: Self.journeyHref(journeyId), journeyType: try row.decode(String.self, column: "journey_type"),
                    stage: try row.decode(String.self, column: "stage"), department: try row.decode(String.self, column: "department"),
                    owner: try row.decode(String.self, column: "owner"), tier: try row.decode(String.self, column: "tier"),
                    statusWords: Formatting.words(status),
                    stalled: status == "stalled", inStage: Formatting.duration(try row.decode(Double?.self, column: "in_stage")),
                    started: Formatting.time(try row.decode(Date.self, column: "started_at")))
            }, truncated: rows.count > limit, limit: limit)
    }
}
