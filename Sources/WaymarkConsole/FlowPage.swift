import Foundation
import Hummingbird
import WaymarkDomain
import WaymarkPostgres
import WaymarkServer

/// Flow analytics of a journey type: the handoff matrix between departments as a heat map, the
/// time in status per stage, the main variants (paths through the stages) of completed journeys,
/// and CSAT and NPS by week. Charts are SVG drawn here; every figure is also in a table.
struct FlowPage {
    struct Cell {
        var count: Int
        var median: String
        var p90: String
        var style: String
        var empty: Bool
    }
    struct MatrixRow {
        var from: String
        var cells: [Cell]
    }
    struct Dwell {
        var stage: String
        var visits: Int
        var median: String
        var p90: String
    }
    struct Variant {
        var path: String
        var count: Int
        var share: String
        var meanDuration: String
    }
    struct Week {
        var week: String
        var responses: Int
        var csat: String
        var nps: String
    }
    var journeyType: String
    var types: [FilterField.Choice]
    var departments: [String]
    var matrix: [MatrixRow]
    var dwells: [Dwell]
    var dwellChart: String
    var variants: [Variant]
    var weeks: [Week]
    var feedbackChart: String
    var hasMatrix: Bool
    var hasVariants: Bool
    var hasWeeks: Bool
    /// When the figures were computed (`RecentFigures`).
    var figuresAsOf: String
}

extension Console {
    /// Variants and feedback look back this far: a store's whole history is not read per page.
    static let flowWindowDays = 180

    func addFlowRoutes(to group: RouterGroup<ApiContext>) {
        group.get("flow") { request, context in
            _ = try context.require(Self.readers)
            let page = try await flow(request)
            return try render("flow", title: "Flow analytics: \(page.journeyType)", page: page, context: context, current: "flow")
        }
    }

    func flow(_ request: Request) async throws -> FlowPage {
        let (journeyType, _) = try journeyType(request)
        let figures = try await flowFigures.figures(journeyType) { [self] in try await computeFlow(of: journeyType) }
        var page = figures.value
        page.figuresAsOf = Formatting.time(figures.computedAt)
        return page
    }

    /// The page's figures, from the views.
    private func computeFlow(of journeyType: String) async throws -> FlowPage {
        let (journeys, visits, handoffs) = (api.view("journeys"), api.view("time_in_status"), api.view("handoffs"))
        let since = Date().addingTimeInterval(-Double(Self.flowWindowDays) * 86_400)
        let (matrix, dwell, variants, feedback) = try await api.readViews { transaction in
            (
                Array(
                    try await transaction.query(
                        """
                        SELECT from_department, to_department, count(*) AS n,
                               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM wait))::float8 AS median,
                               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM wait))::float8 AS p90
                        FROM \(handoffs) WHERE journey_type = \(journeyType) AND requested_at >= \(since) GROUP BY 1, 2
                        """)),
                Array(
                    try await transaction.query(
                        """
                        SELECT stage, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM duration))::float8 AS median,
                               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM duration))::float8 AS p90
                        FROM \(visits) WHERE journey_type = \(journeyType) AND NOT is_current AND entered_at >= \(since) GROUP BY 1
                        """)),
                Array(
                    try await transaction.query(
                        """
                        SELECT path, count(*) AS n, avg(seconds)::float8 AS mean FROM (
                          SELECT string_agg(t.stage, ' → ' ORDER BY t.visit_no) AS path, extract(epoch FROM j.ended_at - j.started_at) AS seconds
                          FROM \(journeys) j JOIN \(visits) t ON t.journey_id = j.journey_id
                          WHERE j.journey_type = \(journeyType) AND j.status = 'completed' AND j.ended_at >= \(since)
                          GROUP BY j.journey_id, j.ended_at, j.started_at
                        ) v GROUP BY path ORDER BY n DESC, path LIMIT 9
                        """)),
                Array(
                    try await transaction.query(
                        """
                        SELECT date_trunc('week', coalesce(ended_at, last_event_at)) AS week, count(*) FILTER (WHERE last_csat IS NOT NULL) AS csat_n,
                               avg(last_csat)::float8 AS csat, count(*) FILTER (WHERE last_nps IS NOT NULL) AS nps_n,
                               (100.0 * (count(*) FILTER (WHERE last_nps >= 9) - count(*) FILTER (WHERE last_nps <= 6))
                                 / nullif(count(*) FILTER (WHERE last_nps IS NOT NULL), 0))::float8 AS nps
                        FROM \(journeys)
                        WHERE journey_type = \(journeyType) AND coalesce(ended_at, last_event_at) >= \(since)
                          AND (last_csat IS NOT NULL OR last_nps IS NOT NULL)
                        GROUP BY 1 ORDER BY 1
                        """))
            )
        }
        var departments: [String] = []
        for stage in catalog.current(journeyType)?.stages ?? [] where !departments.contains(stage.department) { departments.append(stage.department) }
        var cells: [String: (Int, Double?, Double?)] = [:]
        for row in matrix {
            let from = try row.decode(String.self, column: "from_department")
            let to = try row.decode(String.self, column: "to_department")
            for department in [from, to] where !departments.contains(department) { departments.append(department) }
            cells["\(from)\u{1}\(to)"] = (
                Int(try row.decode(Int64.self, column: "n")), try row.decode(Double?.self, column: "median"), try row.decode(Double?.self, column: "p90")
            )
        }
        let longest = cells.values.compactMap(\.1).max() ?? 0
        let matrixRows = departments.map { from in
            FlowPage.MatrixRow(
                from: from,
                cells: departments.map { to in
                    guard let (count, median, p90) = cells["\(from)\u{1}\(to)"] else { return .init(count: 0, median: "", p90: "", style: "", empty: true) }
                    // Lighter to darker with the median wait; text stays dark enough to read on every shade.
                    let share = longest > 0 ? (median ?? 0) / longest : 0
                    return .init(
                        count: count, median: Formatting.duration(median), p90: Formatting.duration(p90),
                        style: "background:hsl(8,75%,\(Int(97 - share * 27))%)", empty: false)
                })
        }
        let stageOrder = (catalog.current(journeyType)?.stages ?? []).map(\.id)
        let dwells = try dwell.map { row in
            (
                stage: try row.decode(String.self, column: "stage"), visits: Int(try row.decode(Int64.self, column: "n")),
                median: try row.decode(Double?.self, column: "median") ?? 0, p90: try row.decode(Double?.self, column: "p90") ?? 0
            )
        }.sorted { (stageOrder.firstIndex(of: $0.stage) ?? .max, $0.stage) < (stageOrder.firstIndex(of: $1.stage) ?? .max, $1.stage) }
        let completed = try variants.reduce(0) { $0 + Int(try $1.decode(Int64.self, column: "n")) }
        let weekRows = try feedback.map { row in
            (
                week: try row.decode(Date.self, column: "week"),
                responses: Int(try row.decode(Int64.self, column: "csat_n") + (try row.decode(Int64.self, column: "nps_n"))),
                csat: try row.decode(Double?.self, column: "csat"), nps: try row.decode(Double?.self, column: "nps")
            )
        }
        return FlowPage(
            journeyType: journeyType, types: journeyTypes.map { .init(value: $0, label: $0, selected: $0 == journeyType) }, departments: departments,
            matrix: matrixRows,
            dwells: dwells.map { .init(stage: $0.stage, visits: $0.visits, median: Formatting.duration($0.median), p90: Formatting.duration($0.p90)) },
            dwellChart: Charts.bars(dwells.map { ($0.stage, $0.median, $0.p90) }, title: "Time in status per stage: median and p90"),
            variants: try variants.map { row in
                let count = Int(try row.decode(Int64.self, column: "n"))
                return .init(
                    path: try row.decode(String.self, column: "path"), count: count,
                    share: String(format: "%.0f %%", completed > 0 ? Double(count) / Double(completed) * 100 : 0),
                    meanDuration: Formatting.duration(try row.decode(Double?.self, column: "mean")))
            },
            weeks: weekRows.map {
                .init(
                    week: String(Formatting.time($0.week).prefix(10)), responses: $0.responses, csat: $0.csat.map { String(format: "%.2f", $0) } ?? "",
                    nps: $0.nps.map { String(format: "%.0f", $0) } ?? "")
            },
            feedbackChart: Charts.lines(
                weekRows.map { (String(Formatting.time($0.week).prefix(10)), $0.csat, $0.nps) }, title: "CSAT (1–5) and NPS (−100 to 100) by week"),
            hasMatrix: !cells.isEmpty, hasVariants: !variants.isEmpty, hasWeeks: !weekRows.isEmpty, figuresAsOf: "")
    }
}

/// The flow page's charts, as SVG.
enum Charts {
    /// Horizontal bars: the median dark over the p90 light, one row per label.
    static func bars(_ rows: [(label: String, median: Double, p90: Double)], title: String) -> String {
        guard !rows.isEmpty else { return "" }
        let (labelWidth, barWidth, rowHeight) = (150.0, 460.0, 22.0)
        let longest = max(rows.map(\.p90).max() ?? 1, 1)
        let height = Double(rows.count) * rowHeight + 10
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 \(Int(labelWidth + barWidth + 90)) \(Int(height))" \
            width="\(Int(labelWidth + barWidth + 90))" height="\(Int(height))" role="img" aria-label="\(Formatting.escape(title))">

            """
        for (index, row) in rows.enumerated() {
            let y = Double(index) * rowHeight + 4
            out += """
                <text x="0" y="\(y + 13)">\(Formatting.escape(row.label))</text>\
                <rect class="bar p90" x="\(labelWidth)" y="\(y)" width="\(row.p90 / longest * barWidth)" height="16"/>\
                <rect class="bar" x="\(labelWidth)" y="\(y)" width="\(row.median / longest * barWidth)" height="16"/>\
                <text x="\(labelWidth + barWidth + 6)" y="\(y + 13)">\(Formatting.escape(Formatting.duration(row.median)))</text>

                """
        }
        return out + "</svg>"
    }

    /// Two small line charts side by side: CSAT on 1 to 5, NPS on −100 to 100, one point per week.
    static func lines(_ points: [(label: String, csat: Double?, nps: Double?)], title: String) -> String {
        guard points.count > 1 else { return "" }
        let (width, height, pad) = (300.0, 140.0, 24.0)
        func polyline(_ values: [Double?], low: Double, high: Double) -> String {
            values.enumerated().compactMap { index, value in
                value.map { v in
                    let x = pad + Double(index) / Double(values.count - 1) * (width - 2 * pad)
                    let y = height - pad - (v - low) / (high - low) * (height - 2 * pad)
                    return String(format: "%.1f,%.1f", x, y)
                }
            }.joined(separator: " ")
        }
        func chart(_ name: String, _ cls: String, _ values: [Double?], _ low: Double, _ high: Double, offset: Double) -> String {
            """
            <g transform="translate(\(offset),0)"><text x="\(pad)" y="14">\(name)</text>\
            <line class="axis" x1="\(pad)" y1="\(height - pad)" x2="\(width - pad)" y2="\(height - pad)"/>\
            <text x="0" y="\(pad + 4)">\(Int(high))</text><text x="0" y="\(height - pad)">\(Int(low))</text>\
            <polyline class="line \(cls)" points="\(polyline(values, low: low, high: high))"/>\
            <text x="\(pad)" y="\(height - 6)">\(Formatting.escape(points.first!.label))</text>\
            <text x="\(width - pad - 60)" y="\(height - 6)">\(Formatting.escape(points.last!.label))</text></g>
            """
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 \(Int(width * 2 + 20)) \(Int(height))" width="\(Int(width * 2 + 20))" \
            height="\(Int(height))" role="img" aria-label="\(Formatting.escape(title))">\
            \(chart("CSAT", "csat", points.map(\.csat), 1, 5, offset: 0))\(chart("NPS", "nps", points.map(\.nps), -100, 100, offset: width + 20))</svg>
            """
    }
}
