import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager

/// What the views say about customers and the platform's own backlog, as Prometheus gauges beside
/// the operational metrics, so that one dashboard and one set of alerts can put them together:
/// open journeys by status, SLA clocks open and closed in the last 24 hours, CSAT and NPS of the
/// last 24 hours, the process manager's deadlines and the outbox's notifications. Read every
/// `interval` in one read-only transaction (aggregates over the views' indexes), not per scrape.
public final class OutcomeGauges: Service, Sendable {
    public let api: ApiServer
    public let registry: PrometheusCollectorRegistry
    public let interval: Duration
    /// The label sets each gauge had at the last reading: one that is gone reads 0, not its last value.
    private let seen = Mutex<[String: Set<[String]>]>([:])

    public init(api: ApiServer, registry: PrometheusCollectorRegistry, interval: Duration = .seconds(15)) {
        self.api = api
        self.registry = registry
        self.interval = interval
    }

    /// Each gauge with its help and its labels' names.
    static let gauges: [(name: String, labels: [String], help: String)] = [
        ("waymark_journeys_open", ["journey_type", "status"], "Open journeys by status (active, waiting_on_customer, stalled)."),
        ("waymark_sla_clocks_open", ["journey_type", "state"], "SLA clocks still counting or breached and open, by state."),
        ("waymark_sla_closed_24h", ["journey_type", "outcome"], "SLA clocks stopped in the last 24 hours: met or breached."),
        ("waymark_csat_average_24h", ["journey_type"], "Mean CSAT (1 to 5) of feedback in the last 24 hours."),
        ("waymark_nps_24h", ["journey_type"], "NPS (-100 to 100) of feedback in the last 24 hours."),
        ("waymark_feedback_responses_24h", ["journey_type"], "Journeys with feedback in the last 24 hours."),
        ("waymark_deadlines_pending", [], "The process manager's pending deadlines."),
        ("waymark_deadlines_overdue", [], "Pending deadlines past their due time: none fires them when this grows."),
        ("waymark_notifications_24h", ["state"], "Notifications requested in the last 24 hours, by state (requested, suppressed, delivered, failed)."),
        ("waymark_escalations_open", ["role"], "Open escalations by role."),
    ]

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await update()
            } catch {
                api.logger.warning("outcome gauges not read; next try in \(interval)", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// Reads the views once and sets every gauge.
    public func update() async throws {
        let views = (
            journeys: api.view("journeys"), sla: api.view("sla"), notifications: api.view("notifications"), escalations: api.view("escalations")
        )
        let readings: [String: [([String], Double)]] = try await api.readViews { transaction in
            func rows(_ query: PostgresQuery, labels: Int) async throws -> [([String], Double)] {
                try await transaction.query(query).map { row in
                    (try (0..<labels).map { try row.decode(String.self, at: $0) }, try row.decode(Double.self, at: labels))
                }
            }
            var out: [String: [([String], Double)]] = [:]
            out["waymark_journeys_open"] = try await rows(
                """
                SELECT journey_type, status, count(*)::float8 FROM \(views.journeys)
                WHERE status IN ('active', 'waiting_on_customer', 'stalled') GROUP BY 1, 2
                """, labels: 2)
            out["waymark_sla_clocks_open"] = try await rows(
                "SELECT journey_type, state, count(*)::float8 FROM \(views.sla) WHERE state IN ('running', 'paused', 'breached-running') GROUP BY 1, 2",
                labels: 2)
            out["waymark_sla_closed_24h"] = try await rows(
                """
                SELECT journey_type, CASE WHEN state = 'met' THEN 'met' ELSE 'breached' END, count(*)::float8 FROM \(views.sla)
                WHERE state IN ('met', 'breached-closed') AND stopped_at > now() - interval '24 hours' GROUP BY 1, 2
                """, labels: 2)
            let feedback = try await transaction.query(
                """
                SELECT journey_type, avg(last_csat)::float8,
                       (100.0 * (count(*) FILTER (WHERE last_nps >= 9) - count(*) FILTER (WHERE last_nps <= 6))
                         / nullif(count(*) FILTER (WHERE last_nps IS NOT NULL), 0))::float8, count(*)::float8
                FROM \(views.journeys)
                WHERE last_event_at > now() - interval '24 hours' AND (last_csat IS NOT NULL OR last_nps IS NOT NULL) GROUP BY 1
                """)
            for row in feedback {
                let type = try row.decode(String.self, at: 0)
                if let csat = try row.decode(Double?.self, at: 1) { out["waymark_csat_average_24h", default: []].append(([type], csat)) }
                if let nps = try row.decode(Double?.self, at: 2) { out["waymark_nps_24h", default: []].append(([type], nps)) }
                out["waymark_feedback_responses_24h", default: []].append(([type], try row.decode(Double.self, at: 3)))
            }
            out["waymark_notifications_24h"] = try await rows(
                "SELECT state, count(*)::float8 FROM \(views.notifications) WHERE requested_at > now() - interval '24 hours' GROUP BY 1", labels: 1)
            out["waymark_escalations_open"] = try await rows(
                "SELECT role, count(*)::float8 FROM \(views.escalations) WHERE state = 'open' GROUP BY 1", labels: 1)
            return out
        }
        var all = defaults
        for (name, values) in readings {
            var merged = Dictionary(all[name] ?? [], uniquingKeysWith: { $1 })
            for (labels, value) in values { merged[labels] = value }
            all[name] = merged.map { ($0.key, $0.value) }
        }
        let deadlines = try await ProcessManagerStatus.read(api.store, now: Date(), logger: api.logger)
        all["waymark_deadlines_pending"] = [([], Double(deadlines.pending))]
        all["waymark_deadlines_overdue"] = [([], Double(deadlines.overdue))]
        for (name, labels, help) in Self.gauges {
            let values = all[name] ?? []
            let current = Set(values.map(\.0))
            let gone = seen.withLock { seen in
                defer { seen[name] = current }
                return (seen[name] ?? []).subtracting(current)
            }
            for (labelValues, value) in values { gauge(name, labels, labelValues, help).set(value) }
            for labelValues in gone { gauge(name, labels, labelValues, help).set(0.0) }
            // A gauge without labels is there from the first reading, 0 or not.
            if labels.isEmpty && values.isEmpty { gauge(name, [], [], help).set(0.0) }
        }
    }

    /// Every gauge family is exported from the first reading: the journey types, states and roles
    /// the definitions know read 0 until they have rows (a CSAT or NPS without responses reads NaN,
    /// which dashboards show as a gap, not as a score of 0).
    var defaults: [String: [([String], Double)]] {
        let catalog = api.client.catalog
        let types = Set(catalog.versions.map(\.journeyType)).sorted()
        let roles = Set(catalog.versions.flatMap { $0.slaGoals.flatMap { $0.escalation.map(\.role) } }).sorted()
        func each(_ first: [String], _ second: [String], _ value: Double = 0) -> [([String], Double)] {
            first.flatMap { a in second.map { b in ([a, b], value) } }
        }
        return [
            "waymark_journeys_open": each(types, ["active", "waiting_on_customer", "stalled"]),
            "waymark_sla_clocks_open": each(types, ["running", "paused", "breached-running"]),
            "waymark_sla_closed_24h": each(types, ["met", "breached"]),
            "waymark_csat_average_24h": types.map { ([$0], .nan) },
            "waymark_nps_24h": types.map { ([$0], .nan) },
            "waymark_feedback_responses_24h": types.map { ([$0], 0) },
            "waymark_notifications_24h": ["requested", "suppressed", "delivered", "failed"].map { ([$0], 0) },
            "waymark_escalations_open": roles.map { ([$0], 0) },
        ]
    }

    private func gauge(_ name: String, _ labels: [String], _ values: [String], _ help: String) -> Gauge {
        guard !labels.isEmpty else { return registry.makeGauge(name: name, help: help) }
        return registry.makeGauge(name: name, labels: Array(zip(labels, values)), help: help)
    }
}
