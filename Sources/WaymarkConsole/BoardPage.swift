import Foundation
import Hummingbird
import Mustache
import WaymarkDomain
import WaymarkPostgres
import WaymarkServer

/// The journey board: a journey type's open journeys in columns by stage (each labelled with its
/// department), with counts and ages, the stalled and breached ones first and marked.
struct BoardPage {
    struct Card: MustacheParent {
        var journeyId: String
        var href: String
        var tier: String
        var owner: String?
        var status: String
        var statusWords: String
        var age: String
        var stalled: Bool
        var breached: Bool
        var waiting: Bool
        var escalationLevel: Int?

        // Looked up by name: a template otherwise reflects on the row for each field it shows.
        func child(named name: String) -> Any? {
            switch name {
            case "journeyId": journeyId
            case "href": href
            case "tier": tier
            case "owner": owner
            case "status": status
            case "statusWords": statusWords
            case "age": age
            case "stalled": stalled
            case "breached": breached
            case "waiting": waiting
            case "escalationLevel": escalationLevel
            default: nil
            }
        }
    }
    struct Column {
        var stage: String
        var department: String
        var count: Int
        var stalled: Int
        var breached: Int
        var oldest: String
        var cards: [Card]
        var more: Int
        var listHref: String
        // Sections test these: a template sees stored properties only, and a number is never false.
        var hasMore = false
        var hasCards = false
        var hasStalled = false
        var hasBreached = false
    }
    var journeyType: String
    var types: [FilterField.Choice]
    var filters: [FilterField]
    var columns: [Column]
    var total: Int
    var stalled: Int
    var breached: Int
    var cardsPerStage: Int
}

extension Console {
    static let openStatuses = ["active", "waiting_on_customer", "stalled"]
    static let cardsPerStage = 12

    var journeyTypes: [String] { Set(catalog.versions.map(\.journeyType)).sorted() }

    /// The journey type a page's `type` asks for (the first by name when none), with its current
    /// definition; 404 naming the types for one the catalog lacks.
    func journeyType(_ request: Request) throws -> (String, JourneyDefinition) {
        let types = journeyTypes
        let journeyType = request.uri.queryParameters["type"].map(String.init) ?? types.first ?? ""
        guard let definition = catalog.current(journeyType) else {
            throw ApiError(.notFound, "no journey type '\(journeyType.prefix(100))'; the types: \(types.joined(separator: ", "))")
        }
        return (journeyType, definition)
    }

    func addBoardRoutes(to group: RouterGroup<ApiContext>) {
        group.get("board") { request, context in
            _ = try context.require(Self.readers)
            let page = try await board(request)
            return try render("board", title: "Board: \(page.journeyType)", page: page, context: context, current: "board")
        }
    }

    func board(_ request: Request) async throws -> BoardPage {
        let types = journeyTypes
        let (journeyType, definition) = try journeyType(request)
        let tier = try Self.choice(request, "tier", catalog.tiers.sorted())
        let status = try Self.choice(request, "status", Self.openStatuses)
        let owner = try Self.text(request, "owner")
        // Open is `ended_at IS NULL`, a stored column; `status` is worked out per row from the clock.
        var conditions: [PostgresQuery] = ["j.journey_type = \(journeyType)", "j.ended_at IS NULL"]
        if let status { conditions.append("j.status = \(status)") }
        if let tier { conditions.append("j.tier = \(tier)") }
        if let owner { conditions.append("j.owner = \(owner)") }
        let journeys = api.view("journeys")
        let sla = api.view("sla")
        let limit = Self.cardsPerStage
        let filter = Self.and(conditions)
        // The type's breached journeys first (an index of open SLA clocks by type), passed back as
        // a value: PostgreSQL looks a value's members up in a hash, where a join on the breached
        // rows it cannot estimate may become a loop over them for every journey. Then the type's
        // open journeys (an index of open journeys by type and stage) are counted per stage, and
        // only the cards that can rank in a stage's first `limit` are ranked: its longest-waiting
        // ones, its longest-stalled ones and its breached ones (ranking all of them cost a sort of
        // every open journey).
        let rows = try await api.readViews { transaction in
            let breached = try await transaction.query(
                """
                SELECT DISTINCT s.journey_id FROM \(sla) s
                WHERE s.journey_type = \(journeyType) AND s.stopped_at IS NULL AND s.state = 'breached-running'
                """
            ).map { try $0.decode(String.self, at: 0) }
            return try await transaction.query(
                """
                WITH open AS MATERIALIZED (
                  SELECT j.journey_id, j.stage, j.tier, coalesce(j.owner, '') AS owner, j.status, j.open_escalation_level,
                         j.stage_entered_at, j.journey_id = ANY(\(PostgresArray(breached))::text[]) AS breached
                  FROM \(journeys) j WHERE \(filter)
                ), stages AS (
                  SELECT o.stage, count(*) AS total, count(*) FILTER (WHERE o.status = 'stalled') AS stalled_count,
                         count(*) FILTER (WHERE o.breached) AS breached_count, min(o.stage_entered_at) AS oldest_entered
                  FROM open o GROUP BY o.stage
                ), candidates AS (
                  SELECT f.journey_id FROM stages s CROSS JOIN LATERAL (
                    SELECT j.journey_id FROM \(journeys) j WHERE \(filter) AND j.stage = s.stage
                    ORDER BY j.stage_entered_at, j.journey_id LIMIT \(limit)) f
                  UNION
                  SELECT f.journey_id FROM stages s CROSS JOIN LATERAL (
                    SELECT j.journey_id FROM \(journeys) j WHERE \(filter) AND j.stage = s.stage AND j.status = 'stalled'
                    ORDER BY j.stage_entered_at, j.journey_id LIMIT \(limit)) f
                  UNION
                  SELECT o.journey_id FROM open o WHERE o.breached
                )
                SELECT r.*, s.total, s.stalled_count, s.breached_count, extract(epoch FROM now() - s.oldest_entered)::float8 AS oldest
                FROM (
                  SELECT o.journey_id, o.stage, o.tier, o.owner, o.status, o.open_escalation_level, o.breached,
                         extract(epoch FROM now() - o.stage_entered_at)::float8 AS age,
                         row_number() OVER (PARTITION BY o.stage ORDER BY o.status = 'stalled' DESC, o.breached DESC, o.stage_entered_at, o.journey_id) AS rank
                  FROM open o JOIN candidates c ON c.journey_id = o.journey_id
                ) r JOIN stages s ON s.stage = r.stage
                WHERE r.rank <= \(limit) ORDER BY r.stage, r.rank
                """)
        }
        var columns = definition.stages.map { stage in
            BoardPage.Column(
                stage: stage.id, department: stage.department, count: 0, stalled: 0, breached: 0, oldest: "", cards: [], more: 0,
                listHref: "/console/journeys"
                    + Formatting.query([("type", journeyType), ("stage", stage.id), ("tier", tier), ("owner", owner), ("status", status)]))
        }
        for row in rows {
            let stage = try row.decode(String.self, column: "stage")
            // A stage of an earlier version of the definition gets a column of its own, at the end.
            if !columns.contains(where: { $0.stage == stage }) {
                columns.append(.init(stage: stage, department: "", count: 0, stalled: 0, breached: 0, oldest: "", cards: [], more: 0, listHref: ""))
            }
            let index = columns.firstIndex { $0.stage == stage }!
            let total = Int(try row.decode(Int64.self, column: "total"))
            let status = try row.decode(String.self, column: "status")
            let journeyId = try row.decode(String.self, column: "journey_id")
            columns[index].count = total
            columns[index].stalled = Int(try row.decode(Int64.self, column: "stalled_count"))
            columns[index].breached = Int(try row.decode(Int64.self, column: "breached_count"))
            columns[index].oldest = Formatting.duration(try row.decode(Double?.self, column: "oldest"))
            columns[index].more = max(0, total - limit)
            columns[index].cards.append(
                .init(
                    journeyId: journeyId, href: Self.journeyHref(journeyId), tier: try row.decode(String.self, column: "tier"),
                    owner: Self.nonEmpty(try row.decode(String.self, column: "owner")), status: status, statusWords: Formatting.words(status),
                    age: Formatting.duration(try row.decode(Double?.self, column: "age")), stalled: status == "stalled",
                    breached: try row.decode(Bool.self, column: "breached"), waiting: status == "waiting_on_customer",
                    escalationLevel: try row.decode(Int?.self, column: "open_escalation_level")))
        }
        for index in columns.indices {
            columns[index].hasMore = columns[index].more > 0
            columns[index].hasCards = columns[index].count > 0
            columns[index].hasStalled = columns[index].stalled > 0
            columns[index].hasBreached = columns[index].breached > 0
        }
        return BoardPage(
            journeyType: journeyType, types: types.map { .init(value: $0, label: $0, selected: $0 == journeyType) },
            filters: [
                FilterField(name: "tier", label: "Tier", value: tier, choices: catalog.tiers.sorted()),
                FilterField(name: "owner", label: "Owner", value: owner),
                FilterField(name: "status", label: "Status", value: status, choices: Self.openStatuses, anyLabel: "any open"),
            ],
            columns: columns, total: columns.reduce(0) { $0 + $1.count }, stalled: columns.reduce(0) { $0 + $1.stalled },
            breached: columns.reduce(0) { $0 + $1.breached }, cardsPerStage: limit)
    }

    static func journeyHref(_ journeyId: String) -> String { "/console/journeys/" + pathSegment(journeyId) }

    /// An id as one segment of a path: `/` and everything a path may not hold percent-encoded.
    static func pathSegment(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/", "?", "#", ";"])) ?? id
    }

    /// Conditions joined with AND.
    static func and(_ conditions: [PostgresQuery]) -> PostgresQuery {
        var clause = conditions.first ?? "true"
        for condition in conditions.dropFirst() { clause = "\(clause) AND \(condition)" }
        return clause
    }

    /// A filter that must be one of `choices`; nil when absent or empty.
    static func choice(_ request: Request, _ name: String, _ choices: [String]) throws -> String? {
        guard let value = request.uri.queryParameters[name[...]].map(String.init), !value.isEmpty else { return nil }
        guard choices.contains(value) else {
            throw ApiError(.invalidValue, "\(name) must be one of \(choices.joined(separator: ", ")), not '\(value.prefix(60))'", field: "query.\(name)")
        }
        return value
    }

    /// A free-text filter, 1 to 200 characters; nil when absent or empty.
    static func text(_ request: Request, _ name: String) throws -> String? {
        guard let value = request.uri.queryParameters[name[...]].map(String.init)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        guard value.unicodeScalars.count <= 200 else { throw ApiError(.invalidValue, "\(name) is at most 200 characters", field: "query.\(name)") }
        return value
    }
}
