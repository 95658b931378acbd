import Foundation
import Logging
import ServiceLifecycle
import WaymarkEventStore
import WaymarkPostgres

/// Keeps projections up to date: each build is fed by a subscription of its own, whose batches
/// write the read model and the checkpoint in one transaction (exactly once, also after kill -9).
/// Those transactions commit without waiting for the disk: a read model is derived from the log
/// alone, so a batch a server crash loses is handled again, checkpoint and all.
///
/// Several runners may run at once (several `waymark projections run`): each projection is led by
/// one at a time (a `Leadership` per projection: a session-level advisory lock on a connection of
/// its own); when its process dies the connection closes, the lock is released and a standby takes
/// over within `standbyInterval`. A build that fails on an event stops there (`projections status` names the
/// event and the error) while the other projections go on; `retry` resumes it.
///
/// A new version in code, or a requested rebuild, is built into tables of its own beside the live
/// build, which keeps serving; once the new build has caught up with the log the analytics views
/// switch to it in one transaction and the old tables are dropped.
public final class ProjectionRunner: Service, Sendable {
    public let store: EventStore
    public let projections: [any Projection]
    /// The schema of the analysts' views (`waymark_analyst` may read it, nothing else).
    public let analyticsSchema: String
    let batchSize: Int
    let standbyInterval: Duration
    /// Times the standbys' retries and the leaders' checks (a test clock in tests).
    let clock: any _Concurrency.Clock<Duration>
    let logger: Logger
    let registry: ProjectionRegistry
    /// Builds following the log side by side read each stretch of it from the database once.
    let pages: LogPageCache
    /// Bumped when the registry announces a change (a rebuild or a retry asked for, here or in
    /// another process): the runner looks at once instead of at its next round.
    let registryChanged = ChangeSignal()
    /// Each projection's signal, bumped after a batch of any of its builds commits and after its
    /// views switch to a new build: a reader in this process that waits for a view to show a
    /// change looks after each commit instead of polling the database.
    public let committed: [String: ChangeSignal]

    /// A runner of `projections` (`ProjectionSet.standard(definitions:)` and what other modules add).
    public convenience init(
        store: EventStore, projections: ProjectionSet, analyticsSchema: String = "analytics", batchSize: Int = 50_000,
        standbyInterval: Duration = .seconds(2), pageCacheEvents: Int = 200_000, clock: any _Concurrency.Clock<Duration> = ContinuousClock(),
        logger: Logger
    ) throws {
        try self.init(
            store: store, projections: projections.projections, analyticsSchema: analyticsSchema, batchSize: batchSize, standbyInterval: standbyInterval,
            pageCacheEvents: pageCacheEvents, clock: clock, logger: logger)
    }

    public init(
        store: EventStore, projections: [any Projection], analyticsSchema: String = "analytics", batchSize: Int = 50_000,
        standbyInterval: Duration = .seconds(2), pageCacheEvents: Int = 200_000, clock: any _Concurrency.Clock<Duration> = ContinuousClock(),
        logger: Logger
    ) throws {
        // Checks the names, and that no two projections share one (they would share tables).
        _ = try ProjectionSet(projections)
        try PostgresIdentifier.checkSchemaName(analyticsSchema)
        self.store = store
        self.projections = projections
        self.analyticsSchema = analyticsSchema
        self.batchSize = batchSize
        self.standbyInterval = standbyInterval
        self.clock = clock
        self.logger = logger
        self.registry = ProjectionRegistry(store: store)
        self.committed = Dictionary(uniqueKeysWithValues: projections.map { ($0.name, ChangeSignal()) })
        self.pages = LogPageCache(
            source: .union(projections.map(\.source)), metadata: projections.allSatisfy { $0.metadata == .occurredAt } ? .occurredAt : .all,
            capacity: pageCacheEvents)
    }

    /// Runs every projection until graceful shutdown or cancellation.
    public func run() async throws {
        let registryChanged = self.registryChanged
        let listener = PostgresListener(configuration: store.pool.configuration, channels: [registry.channel], logger: logger) { _ in
            // A notification, or listening again after a lost connection (which may have missed one).
            registryChanged.bump()
        }
        listener.start()
        do {
            try await withThrowingDiscardingTaskGroup { group in
                for projection in projections {
                    let leadership = Leadership(
                        store: store, key: Leadership.key("projection", projection.name, in: store), retryInterval: standbyInterval,
                        checkInterval: .milliseconds(250), clock: clock, logger: logger
                    ) { try await self.keepBuilding(projection) }
                    group.addTask { try await leadership.run() }
                }
            }
        } catch {
            await listener.stop()
            throw error
        }
        await listener.stop()
    }

    /// While leading: runs a subscription per active build of the code's version, watches for
    /// changes (a rebuild asked for, a retry, a build caught up), and switches the views.
    private func keepBuilding(_ projection: any Projection) async throws {
        try await registry.ensureBuild(of: projection)
        while !Task.isCancelled {
            // Taken before the registry is read: a change announced after it wakes the watch below.
            let seen = registryChanged.generation
            let records = try await registry.records(projection.name).filter { $0.version == projection.version }
            let active = records.filter { $0.state == .live || $0.state == .building }
            for record in active { try await prepare(projection, record) }
            // Read each round: a skip resumes a build, which changes the records and starts a new round.
            let skipped = Set(try await registry.skips(projection.name).map(\.eventId))
            let subscriptions = try active.map { record in
                (record, try subscription(projection, build: record.build, skipping: skipped))
            }
            let snapshot = records.map { "\($0.build):\($0.state.rawValue)" }
            // Runs the subscriptions until one fails, a building one catches up, or the registry
            // changes; then looks again.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (record, subscription) in subscriptions {
                    group.addTask {
                        do {
                            try await subscription.run()
                        } catch let error where !(error is CancellationError) {
                            // A build retired meanwhile (a rebuild asked for anew) stops quietly.
                            guard try await self.registry.markFailed(projection, build: record.build, error: error) else { return }
                            self.logger.error(
                                "projection stopped on an event",
                                metadata: ["waymark.projection": "\(projection.name)", "waymark.build": "\(record.build)", "waymark.error": "\(error)"])
                        }
                    }
                }
                group.addTask {
                    // The tables of builds retired by the last switch (whose subscriptions have
                    // stopped now), by a rebuild request, or by a process that died first; and
                    // statistics for a build that went live.
                    do {
                        try await self.registry.dropRetiredTables(projection.name)
                        try await self.analyzeLiveTables(projection, records)
                    } catch let error where !(error is CancellationError) && (error as? PostgresError)?.code != PostgresError.cancelled {
                        self.logger.warning(
                            "cannot tidy up after a switch yet", metadata: ["waymark.projection": "\(projection.name)", "waymark.error": "\(error)"])
                    }
                    let building = subscriptions.filter { $0.0.state == .building }
                    var seen = seen
                    while true {
                        if building.isEmpty {
                            await self.registryChanged.wait(after: seen, timeout: .milliseconds(250), clock: self.clock)
                            try Task.checkCancellation()
                        } else {
                            // Waiting on the builds themselves (not sleeping, then asking) switches one
                            // within milliseconds of catching up: a rebuild's last wait.
                            for (record, subscription) in building
                            where try await subscription.waitUntilCaughtUp(timeout: .milliseconds(250 / building.count)) {
                                try await self.switchLive(projection, to: record.build)
                                return
                            }
                        }
                        seen = self.registryChanged.generation
                        let now = try await self.registry.records(projection.name).filter { $0.version == projection.version }
                        if now.map({ "\($0.build):\($0.state.rawValue)" }) != snapshot { return }
                    }
                }
                // Whichever finishes first (a failure recorded, a change seen) ends this round.
                _ = try await group.next()
                group.cancelAll()
            }
        }
    }

    /// The subscription feeding `build`. While it catches up it keeps pace with the other builds on
    /// the shared pages; at the head it never waits for them.
    private func subscription(_ projection: any Projection, build: Int, skipping skipped: Set<UUID>) throws -> CatchUpSubscription {
        let tables = projection.tables(schema: store.schema, build: build)
        let committed = self.committed[projection.name]
        return try CatchUpSubscription(
            store: store, name: tables.subscriptionName, source: projection.source, batchSize: batchSize, pages: pages, paced: true,
            metadata: projection.metadata, clock: clock, synchronousCommit: false, logger: logger
        ) { batch, transaction in
            var events = batch
            if !skipped.isEmpty { events.removeAll { skipped.contains($0.id) } }
            // An event whose metadata no reader understands stops this projection alone, at it.
            if let unreadable = events.first(where: { $0.metadataProblem != nil }) {
                throw ProjectionError(unreadable, unreadable.metadataProblem ?? "")
            }
            let ignored = events.isEmpty ? 0 : try await projection.apply(events, to: tables, in: transaction)
            try await transaction.execute(
                """
                UPDATE projections SET events_handled = events_handled + \(events.count), events_ignored = events_ignored + \(ignored),
                    events_skipped = events_skipped + \(batch.count - events.count), updated_at = now()
                WHERE name = \(projection.name) AND version = \(projection.version) AND build = \(build)
                """)
            if let committed { transaction.afterCommit { committed.bump() } }
        }
    }

    /// Creates a build's tables if they are not there yet, and for the live build the views.
    private func prepare(_ projection: any Projection, _ record: ProjectionRecord) async throws {
        let tables = projection.tables(schema: store.schema, build: record.build)
        try await store.transaction { tx in
            try await self.lockDDL(tx)
            if try await tables.existing(in: tx).isEmpty {
                try await projection.createTables(tables, in: tx)
                // Autovacuum would go over a build's tables again and again as they grow; they are
                // analyzed and handed back to it when the build goes live.
                if record.state == .building {
                    for table in try await tables.existing(in: tx) {
                        try await tx.execute("ALTER TABLE \(identifier: store.schema).\(identifier: table) SET (autovacuum_enabled = false)")
                    }
                }
            }
            if record.state == .live {
                try await self.createReaderIndexes(projection, tables, in: tx)
                try await self.createViews(projection, tables, in: tx)
            }
        }
    }

    /// Creates the indexes only readers need, unless they are there (a build gets them as it goes
    /// live, and a live build gets those added since on the runner's start).
    private func createReaderIndexes(_ projection: any Projection, _ tables: ProjectionTables, in tx: Transaction) async throws {
        for index in projection.readerIndexes() { try await tx.execute(index.createStatement(tables)) }
    }

    /// Serializes the runners' table and view changes in this schema until `tx` ends.
    private func lockDDL(_ tx: Transaction) async throws {
        try await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(\("waymark-projection-ddl:\(store.schema)"), 0))")
    }

    /// Points the analytics views at `tables`, readable by `waymark_analyst`.
    private func createViews(_ projection: any Projection, _ tables: ProjectionTables, in tx: Transaction) async throws {
        try await tx.execute("CREATE SCHEMA IF NOT EXISTS \(identifier: analyticsSchema)")
        try await tx.execute("GRANT USAGE ON SCHEMA \(identifier: analyticsSchema) TO waymark_analyst")
        for (name, query) in projection.views(tables) {
            try await tx.execute("DROP VIEW IF EXISTS \(identifier: analyticsSchema).\(identifier: name)")
            try await tx.execute("CREATE VIEW \(identifier: analyticsSchema).\(identifier: name) AS \(query)")
            try await tx.execute("GRANT SELECT ON \(identifier: analyticsSchema).\(identifier: name) TO waymark_analyst")
        }
    }

    /// In one transaction: the caught-up build becomes live, the views read it, and the build it
    /// replaces is retired; its tables are dropped once its subscription has stopped.
    private func switchLive(_ projection: any Projection, to build: Int) async throws {
        // Indexed before the switch's transaction, which then holds its locks only briefly.
        let tables = projection.tables(schema: store.schema, build: build)
        try await store.transaction { tx in
            try await self.createReaderIndexes(projection, tables, in: tx)
            for table in try await tables.existing(in: tx) {
                try await tx.execute("ALTER TABLE \(identifier: self.store.schema).\(identifier: table) RESET (autovacuum_enabled)")
            }
        }
        try await store.transaction { tx in
            try await self.registry.lock(projection.name, in: tx)
            try await self.lockDDL(tx)
            let live = try await tx.query("SELECT version, build FROM projections WHERE name = \(projection.name) AND state = 'live'")
            for row in live {
                let (version, oldBuild) = try row.decode(Int.self, Int.self)
                try await self.registry.retire(projection.name, version: version, build: oldBuild, in: tx)
            }
            try await tx.execute(
                "UPDATE projections SET state = 'live', updated_at = now() WHERE name = \(projection.name) AND version = \(projection.version) AND build = \(build)"
            )
            try await self.createViews(projection, tables, in: tx)
            // The views now read another build: a change for whoever waits on the signal.
            if let committed = self.committed[projection.name] { tx.afterCommit { committed.bump() } }
        }
        logger.info("projection switched to a new build", metadata: ["waymark.projection": "\(projection.name)", "waymark.build": "\(build)"])
    }

    /// Gathers the planner's statistics on live tables that have none yet (a build that went live
    /// built them with autovacuum off, which would analyze them only on its next round).
    private func analyzeLiveTables(_ projection: any Projection, _ records: [ProjectionRecord]) async throws {
        for record in records where record.state == .live {
            let tables = projection.tables(schema: store.schema, build: record.build)
            let unanalyzed = try await store.query(
                """
                SELECT relname FROM pg_stat_user_tables WHERE schemaname = \(store.schema) AND starts_with(relname, \(tables.prefix))
                AND last_analyze IS NULL AND last_autoanalyze IS NULL
                """)
            for row in unanalyzed { try await store.query("ANALYZE \(identifier: store.schema).\(identifier: try row.decode(String.self, at: 0))") }
        }
    }
}

enum ProjectionRunnerChecks {
    static func name(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 40, name.utf8.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f })
        else {
            throw ProjectionCommandError(.invalidProjection, "projection name '\(name)' must be 1 to 40 lowercase letters, digits or _")
        }
    }
}
