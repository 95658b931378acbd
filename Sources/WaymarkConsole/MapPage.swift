import Foundation
import Hummingbird
import WaymarkDomain
import WaymarkPostgres
import WaymarkServer

/// The journey map: a definition version's designed flow (stages in department lanes, transitions,
/// handoffs with their OLA and acceptance criteria) drawn as SVG, with how journeys of that
/// version really move on it: open journeys per stage, the median time in each stage, and how
/// many took each transition and how long its handoffs waited.
struct MapPage {
    struct Transition {
        var from: String
        var to: String
        var handoff: Bool
        var ola: String
        var criteria: String
        var taken: Int
        var medianWait: String
    }
    var journeyType: String
    var types: [FilterField.Choice]
    var versions: [FilterField.Choice]
    var version: String
    var description: String
    var svg: String
    var transitions: [Transition]
    /// When the medians and transition counts were computed (`RecentFigures`); open and stalled
    /// counts are live.
    var figuresAsOf: String
}

extension Console {
    func addMapRoutes(to group: RouterGroup<ApiContext>) {
        group.get("map") { request, context in
            _ = try context.require(Self.readers)
            let page = try await map(request)
            return try render("map", title: "Journey map: \(page.journeyType)", page: page, context: context, current: "map")
        }
    }

    func map(_ request: Request) async throws -> MapPage {
        let types = journeyTypes
        let (journeyType, current) = try journeyType(request)
        let versions = catalog.versions.filter { $0.journeyType == journeyType }.map(\.version.description).sorted()
        let version = try Self.choice(request, "version", versions) ?? current.version.description
        let definition = catalog.definition(version: version) ?? current
        let (stats, computedAt) = try await mapStatistics(journeyType: journeyType, version: version)
        var transitions: [MapPage.Transition] = []
        for transition in definition.transitions {
            let flow = stats.flows["\(transition.from)\u{1}\(transition.to)"]
            transitions.append(
                .init(
                    from: transition.from, to: transition.to, handoff: transition.handoff != nil,
                    ola: Formatting.businessDuration(transition.handoff?.ola), criteria: transition.handoff?.acceptanceCriteria.joined(separator: ", ") ?? "",
                    taken: flow?.taken ?? 0, medianWait: Formatting.duration(flow?.medianWait)))
        }
        return MapPage(
            journeyType: journeyType, types: types.map { .init(value: $0, label: $0, selected: $0 == journeyType) },
            versions: versions.map { .init(value: $0, label: $0 == current.version.description ? "\($0) (current)" : $0, selected: $0 == version) },
            version: version, description: definition.description, svg: MapDrawing(definition: definition, stats: stats).svg, transitions: transitions,
            figuresAsOf: Formatting.time(computedAt))
    }

    struct MapStatistics: Sendable {
        struct Stage: Sendable {
            var open = 0
            var stalled = 0
            var medianSeconds: Double?
        }
        struct Flow: Sendable {
            var taken = 0
            var medianWait: Double?
        }
        var stages: [String: Stage] = [:]
        /// By `from` U+0001 `to`.
        var flows: [String: Flow] = [:]
    }

    /// What the views know of journeys of one definition version, per stage and per transition:
    /// open and stalled counts now, the rest as of when they were computed.
    func mapStatistics(journeyType: String, version: String) async throws -> (MapStatistics, computedAt: Date) {
        let history = try await mapFigures.figures("\(journeyType)\u{1}\(version)") { [self] in
            try await mapHistory(journeyType: journeyType, version: version)
        }
        var stats = history.value
        let journeys = api.view("journeys")
        let open = try await api.readViews { transaction in
            try await transaction.query(
                """
                SELECT stage, count(*) AS open, count(*) FILTER (WHERE status = 'stalled') AS stalled FROM \(journeys)
                WHERE journey_type = \(journeyType) AND definition_version = \(version) AND ended_at IS NULL
                GROUP BY stage
                """)
        }
        for row in open {
            stats.stages[try row.decode(String.self, column: "stage"), default: .init()].open = Int(try row.decode(Int64.self, column: "open"))
            stats.stages[try row.decode(String.self, column: "stage"), default: .init()].stalled = Int(try row.decode(Int64.self, column: "stalled"))
        }
        return (stats, history.computedAt)
    }

    /// Medians in each stage, transitions taken and handoff waits of one definition version.
    private func mapHistory(journeyType: String, version: String) async throws -> MapStatistics {
        let (journeys, visits, handoffs) = (api.view("journeys"), api.view("time_in_status"), api.view("handoffs"))
        let (dwell, flows, waits) = try await api.readViews { transaction in
            (
                Array(
                    try await transaction.query(
                        """
                        SELECT t.stage, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.duration))::float8 AS median
                        FROM \(visits) t JOIN \(journeys) j ON j.journey_id = t.journey_id
                        WHERE j.journey_type = \(journeyType) AND j.definition_version = \(version) AND NOT t.is_current GROUP BY t.stage
                        """)),
                Array(
                    try await transaction.query(
                        """
                        SELECT t.stage, t.left_for, count(*) AS taken FROM \(visits) t JOIN \(journeys) j ON j.journey_id = t.journey_id
                        WHERE j.journey_type = \(journeyType) AND j.definition_version = \(version) AND t.left_for IS NOT NULL GROUP BY 1, 2
                        """)),
                Array(
                    try await transaction.query(
                        """
                        SELECT h.from_stage, h.to_stage, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.wait))::float8 AS median
                        FROM \(handoffs) h JOIN \(journeys) j ON j.journey_id = h.journey_id
                        WHERE j.journey_type = \(journeyType) AND j.definition_version = \(version) AND h.outcome = 'accepted' GROUP BY 1, 2
                        """))
            )
        }
        var stats = MapStatistics()
        for row in dwell {
            stats.stages[try row.decode(String.self, column: "stage"), default: .init()].medianSeconds = try row.decode(Double?.self, column: "median")
        }
        for row in flows {
            let key = "\(try row.decode(String.self, column: "stage"))\u{1}\(try row.decode(String.self, column: "left_for"))"
            stats.flows[key, default: .init()].taken = Int(try row.decode(Int64.self, column: "taken"))
        }
        for row in waits {
            let key = "\(try row.decode(String.self, column: "from_stage"))\u{1}\(try row.decode(String.self, column: "to_stage"))"
            stats.flows[key, default: .init()].medianWait = try row.decode(Double?.self, column: "median")
        }
        return stats
    }
}

/// The map as SVG: a lane per department (in the order the stages first meet them), a box per
/// stage in its lane and in flow order, arrows for transitions (forward above, back below), a
/// handoff's arrow dashed and labelled with its OLA.
struct MapDrawing {
    let definition: JourneyDefinition
    let stats: Console.MapStatistics

    static let (laneLabel, column, row, boxWidth, boxHeight) = (130.0, 190.0, 120.0, 160.0, 76.0)

    var svg: String {
        var lanes: [String] = []
        for stage in definition.stages where !lanes.contains(stage.department) { lanes.append(stage.department) }
        var positions: [String: (x: Double, y: Double)] = [:]
        for (index, stage) in definition.stages.enumerated() {
            positions[stage.id] = (Self.laneLabel + Double(index) * Self.column + 10, Double(lanes.firstIndex(of: stage.department)!) * Self.row + 22)
        }
        let width = Self.laneLabel + Double(definition.stages.count) * Self.column + 20
        let height = Double(lanes.count) * Self.row + 20
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" \
            role="img" aria-labelledby="map-title"><title id="map-title">\(Formatting.escape(definition.journeyType)) \(Formatting.escape(definition.version.description)): stages by department</title>
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">\
            <path d="M0,0 L10,5 L0,10 z" fill="#4a5560"/></marker></defs>

            """
        for (index, lane) in lanes.enumerated() {
            let y = Double(index) * Self.row + 10
            out += """
                <rect class="lane" x="0" y="\(y)" width="\(width)" height="\(Self.row - 4)" rx="4"/>\
                <text class="lane-label" x="10" y="\(y + Self.row / 2)">\(Formatting.escape(lane))</text>

                """
        }
        // Labels go on top of the boxes, drawn last.
        var labels = ""
        for transition in definition.transitions {
            guard let from = positions[transition.from], let to = positions[transition.to] else { continue }
            let forward = to.x > from.x
            let (startX, endX) = forward ? (from.x + Self.boxWidth, to.x) : (from.x, to.x + Self.boxWidth)
            let (startY, endY) = (from.y + Self.boxHeight / 2, to.y + Self.boxHeight / 2)
            let bend = forward ? -18.0 : Self.boxHeight / 2 + 26
            let (midX, midY) = ((startX + endX) / 2, (forward ? min(startY, endY) : max(startY, endY)) + bend)
            let taken = stats.flows["\(transition.from)\u{1}\(transition.to)"]?.taken ?? 0
            let label = [transition.handoff?.ola.map { "OLA \(Formatting.businessDuration($0))" }, taken > 0 ? "\(taken)×" : nil].compactMap { $0 }
                .joined(separator: " · ")
            out += """
                <path class="transition\(transition.handoff != nil ? " handoff" : "")\(forward ? "" : " back")" d="M\(startX),\(startY) Q\(midX),\(midY) \(endX),\(endY)" marker-end="url(#arrow)"/>

                """
            if !label.isEmpty {
                labels += "<text class=\"transition-label\" x=\"\(midX)\" y=\"\(midY + (forward ? 10 : -2))\">\(Formatting.escape(label))</text>\n"
            }
        }
        for stage in definition.stages {
            guard let at = positions[stage.id] else { continue }
            let figures = stats.stages[stage.id] ?? .init()
            out += """
                <g class="stage\(figures.stalled > 0 ? " has-stalled" : "")"><rect x="\(at.x)" y="\(at.y)" width="\(Self.boxWidth)" height="\(Self.boxHeight)" rx="6"/>\
                <text class="stage-name" x="\(at.x + 8)" y="\(at.y + 18)">\(Formatting.escape(stage.id))</text>\
                <text x="\(at.x + 8)" y="\(at.y + 36)">\(figures.open) open\(figures.stalled > 0 ? " · \(figures.stalled) stalled" : "")</text>\
                <text x="\(at.x + 8)" y="\(at.y + 52)">median \(figures.medianSeconds.map { Formatting.duration($0) } ?? "–")</text>\
                <text x="\(at.x + 8)" y="\(at.y + 68)">max dwell \(stage.maxDwell.map { Formatting.businessDuration($0) } ?? "–")</text></g>

                """
        }
        return out + labels + "</svg>"
    }
}
