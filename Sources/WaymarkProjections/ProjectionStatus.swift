import Foundation
import WaymarkEventStore
import WaymarkPostgres

/// A build of a projection with how far it has come: what `waymark projections status` prints.
public struct ProjectionStatus: Sendable {
    public var record: ProjectionRecord
    /// The position of the last event it handled.
    public var checkpoint: GlobalPosition
    /// Events of its source after the checkpoint.
    public var lagEvents: Int64
    /// How long ago the oldest of those was recorded (0 when none is waiting).
    public var lagSeconds: Double
}

extension ProjectionRunner {
    /// Every build not retired of the runner's projections (or of all in the schema), with its lag.
    public func status() async throws -> [ProjectionStatus] {
        try await Self.status(store: store, sources: Dictionary(projections.map { ($0.name, $0.source) }) { first, _ in first })
    }

    /// The status of every build recorded in `store`'s schema; `sources` names what each reads
    /// (a projection this process does not know is measured against the whole log).
    public static func status(store: EventStore, sources: [String: SubscriptionSource] = [:]) async throws -> [ProjectionStatus] {
        var out: [ProjectionStatus] = []
        for record in try await ProjectionRegistry(store: store).records() {
            out.append(try await status(of: record, source: sources[record.name] ?? .all, store: store))
        }
        return out
    }

    /// The status of build `build` of projection `name`, nil when there is none (or it is retired).
    public func status(of name: String, build: Int) async throws -> ProjectionStatus? {
        guard let record = try await registry.records(name).first(where: { $0.build == build }) else { return nil }
        return try await Self.status(of: record, source: source(of: name), store: store)
    }

    /// What projection `name` reads: the whole log for one this runner does not know.
    private func source(of name: String) -> SubscriptionSource {
        projections.first { $0.name == name }?.source ?? .all
    }

    /// Whether tables or functions of retired builds are still there (the runner drops them once
    /// the retired builds' subscriptions have stopped).
    public func retiredLeftoversRemain() async throws -> Bool {
        try await !registry.retiredLeftovers().isEmpty
    }

    private static func status(of record: ProjectionRecord, source: SubscriptionSource, store: EventStore) async throws -> ProjectionStatus {
        let checkpoint = try await Self.checkpoint(of: record, store: store)
        let lag = try await store.query(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8 FROM events WHERE \(Self.after(checkpoint, in: source))")
        let (events, seconds) = try lag[0].decode(Int64.self, Double.self)
        return ProjectionStatus(record: record, checkpoint: checkpoint, lagEvents: events, lagSeconds: events == 0 ? 0 : seconds)
    }

    /// How many events projection `name` reads lie after `position` (of the whole log for a
    /// projection this runner does not know): cheap for a position near the head.
    public func events(of name: String, after position: GlobalPosition) async throws -> Int64 {
        try await store.query("SELECT count(*) FROM events WHERE \(Self.after(position, in: source(of: name)))")[0].decode(Int64.self, at: 0)
    }

    /// The position of the last event `record`'s build handled.
    static func checkpoint(of record: ProjectionRecord, store: EventStore) async throws -> GlobalPosition {
        let name = ProjectionTables(schema: store.schema, projection: record.name, version: record.version, build: record.build).subscriptionName
        let rows = try await store.query("SELECT tx_id::text, global_id FROM subscription_checkpoints WHERE subscription_name = \(name)")
        return try rows.first.map { GlobalPosition(transactionId: UInt64(try $0.decode(String.self, at: 0)) ?? 0, sequence: try $0.decode(Int64.self, at: 1)) }
            ?? .start
    }

    /// The events of `source` after `checkpoint`, as a condition on `events`.
    static func after(_ checkpoint: GlobalPosition, in source: SubscriptionSource) -> PostgresQuery {
        switch source {
        case .all:
            return "(tx_id, global_id) > (\(String(checkpoint.transactionId))::xid8, \(checkpoint.sequence))"
        case .category(let category):
            return inCategory(category, after: checkpoint)
        case .categories(let categories):
            // One bounded scan per category: bounded by the checkpoint alone, a projection of a
            // quiet category (no notification yet) would count through the whole log.
            var condition: PostgresQuery = "false"
            for category in categories { condition = "\(condition) OR (\(inCategory(category, after: checkpoint)))" }
            return "(\(condition))"
        }
    }

    /// Two row comparisons on the category index's prefix bound its scan at both ends; beside
    /// `category = …` the scan would step through the category from its first entry.
    private static func inCategory(_ category: String, after checkpoint: GlobalPosition) -> PostgresQuery {
        """
        (category, tx_id, global_id) > (\(category), \(String(checkpoint.transactionId))::xid8, \(checkpoint.sequence))
        AND (category, tx_id, global_id) <= (\(category), '18446744073709551615'::xid8, \(Int64.max))
        """
    }

    /// Every build not retired of the runner's projections, without their lag (which costs a
    /// count of the events left).
    public func builds() async throws -> [ProjectionRecord] {
        let names = Set(projections.map(\.name))
        return try await registry.records().filter { names.contains($0.name) }
    }

    /// Waits until projection `name` has a live build of `version` (default: the code's) with no
    /// event left to handle; false after `timeout`.
    public func waitUntilCaughtUp(_ name: String, version: Int? = nil, timeout: Duration = .seconds(30)) async throws -> Bool {
        let wanted = version ?? projections.first { $0.name == name }?.version
        let source = source(of: name)
        let deadline = ContinuousClock.now + timeout
        var watched: (record: ProjectionRecord, subscription: CatchUpSubscription)?
        while ContinuousClock.now < deadline {
            if let live = try await registry.records(name).first(where: { $0.state == .live && (wanted == nil || $0.version == wanted) }) {
                // The live build's subscription answers, as the runner asks it of a new build:
                // whether an event is left, not how many (counting a long lag costs more than the
                // build's own reads).
                if watched?.record.build != live.build || watched?.record.version != live.version {
                    let tables = ProjectionTables(schema: store.schema, projection: name, version: live.version, build: live.build)
                    watched = (live, try CatchUpSubscription(store: store, name: tables.subscriptionName, source: source, logger: logger) { _, _ in })
                }
                if let watched, try await watched.subscription.waitUntilCaughtUp(timeout: .zero) { return true }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Resumes the failed builds of `name`; returns how many.
    @discardableResult
    public func retry(_ name: String) async throws -> Int {
        defer { registryChanged.bump() }
        return try await registry.retry(name)
    }

    /// Passes over event `eventId`, on which a build of projection `name` stopped, and resumes it:
    /// for an event the projection cannot read and the operator chose to go on without (recorded
    /// with `reason` and `actor`; rebuilds pass over it too). Returns how many builds resume.
    @discardableResult
    public func skip(_ name: String, event eventId: UUID, reason: String, by actor: String) async throws -> Int {
        guard projections.contains(where: { $0.name == name }) else {
            throw ProjectionCommandError(.unknownProjection, "no projection named '\(name)'; there are: \(projections.map(\.name).joined(separator: ", "))")
        }
        defer { registryChanged.bump() }
        return try await registry.skip(name, event: eventId, reason: reason, by: actor)
    }

    /// The events projection `name` (or every projection) passes over, with who decided and why.
    public func skips(_ name: String? = nil) async throws -> [ProjectionSkip] {
        try await registry.skips(name)
    }

    /// Starts a new build of `name` beside the live one; returns its build number.
    @discardableResult
    public func requestRebuild(_ name: String) async throws -> Int {
        guard let projection = projections.first(where: { $0.name == name }) else {
            throw ProjectionCommandError(.unknownProjection, "no projection named '\(name)'; there are: \(projections.map(\.name).joined(separator: ", "))")
        }
        defer { registryChanged.bump() }
        return try await registry.requestRebuild(name, version: projection.version)
    }
}
