import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkRuntime
import WaymarkSimulation

/// The read models' build speed against the database's own write speed, and how soon an append
/// shows in the journeys view under steady load, in the same run on simulated traffic.
struct BenchProjections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Build of every read model beside a COPY of the same events, and append-to-visible delay under steady appends.")

    @OptionGroup var database: RuntimeOptions
    @OptionGroup var definitions: DefinitionOptions

    @Option(parsing: .unconditional, help: "Events to simulate before the build.")
    var events: Int = 1_000_000

    @Option(parsing: .unconditional, help: "Appends per second while measuring the delay to the journeys view.")
    var rate: Int = 1_000

    @Option(parsing: .unconditional, help: "Seconds of steady appends.")
    var seconds: Int = 20

    @Option(parsing: .unconditional, help: "Most events per projection batch.")
    var batchSize: Int = 50_000

    @Option(parsing: .unconditional, help: "Rebuilds of every read model after the first build, each timed alike (the ratio is the median's).")
    var rebuilds: Int = 2

    @Option(
        help:
            "Measure only the delay, on a store filled before (e.g. by `waymark simulate`) whose read models are kept: nothing is simulated, copied or rebuilt, and nothing dropped."
    )
    var existingSchema: String?

    func validate() throws {
        try requireAtLeast(1_000, events, "--events")
        try requireAtLeast(10, rate, "--rate")
        try requireAtLeast(2, seconds, "--seconds")
        try requireAtLeast(0, rebuilds, "--rebuilds")
        guard (1...CatchUpSubscription.maxBatchSize).contains(batchSize) else {
            throw ValidationError("--batch-size must be between 1 and \(CatchUpSubscription.maxBatchSize), not \(batchSize)")
        }
    }

    func run() async throws {
        let catalog = try database.runtime(definitions.overrides).catalog()
        try await withBenchStore(database, maxConnections: 24, existingSchema: existingSchema) { store in
            var quiet = Logger(label: "waymark.bench")
            quiet.logLevel = .warning
            print("waymark bench projections")
            try await printServer(store)
            let client = WaymarkClient(store: store, catalog: catalog, logger: quiet)
            if existingSchema != nil {
                try await measureDelayOnly(client, catalog: catalog, logger: quiet)
                return
            }
            let total = try await simulate(client, catalog: catalog, logger: quiet)
            // Autovacuum of the freshly written log would otherwise run during one timed phase.
            try await store.pool.query("VACUUM ANALYZE events")

            let copy = try await copyBaseline(store, total: total)
            try await withRunner(store, catalog: catalog, logger: quiet) { runner, analytics in
                var rates = [try await timeBuild(runner, total: total, rebuild: false)]
                for _ in 0..<rebuilds { rates.append(try await timeBuild(runner, total: total, rebuild: true)) }
                let build = rates.sorted()[rates.count / 2]
                if rates.count > 1 {
                    print(String(format: "builds: %@ log events/s; median %.0f", rates.map { String(format: "%.0f", $0) }.joined(separator: ", "), build))
                }
                let ratio = build / copy.plain
                print(
                    String(
                        format: "build vs COPY: %.2f× the plain COPY, %.2f× the indexed COPY (target ≥ 0.5 × plain) %@", ratio, build / copy.indexed,
                        ratio >= 0.5 ? "ok" : "BELOW TARGET"))
                // Like each build, the delay starts on a settled store: the last switch's retired
                // tables dropped and its fresh ones vacuumed, not left to run beside the appends.
                try await tidyUp(runner)
                try await settle(store)
                try await measureDelay(client, runner: runner, analytics: analytics)
                try await store.pool.query("DROP SCHEMA IF EXISTS \(identifier: analytics) CASCADE")
            }
        }
    }

    /// Runs `body` beside the store and a runner of every standard projection, which it stops after.
    private func withRunner(
        _ store: EventStore, catalog: JourneyCatalog, logger: Logger, _ body: @escaping (ProjectionRunner, _ analytics: String) async throws -> Void
    ) async throws {
        let analytics = store.schema + "_analytics"
        let runner = try ProjectionRunner(
            store: store, projections: standardProjections(catalog: catalog), analyticsSchema: analytics, batchSize: batchSize, logger: logger)
        let services = ServiceGroup(configuration: .init(services: [.init(service: store), .init(service: runner)], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            try await body(runner, analytics)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    /// The delay alone, on a store filled before: its read models catch up (or are built, when
    /// they never were) and are kept.
    private func measureDelayOnly(_ client: WaymarkClient, catalog: JourneyCatalog, logger: Logger) async throws {
        let store = client.store
        let events = try await store.pool.query("SELECT count(*) FROM events")[0].decode(Int64.self, at: 0)
        print("the store: \(events) events")
        try await withRunner(store, catalog: catalog, logger: logger) { runner, analytics in
            for projection in runner.projections {
                guard try await runner.waitUntilCaughtUp(projection.name, timeout: .seconds(3_600)) else {
                    throw ValidationError("projection \(projection.name) did not catch up within an hour")
                }
            }
            try await tidyUp(runner)
            try await settle(store)
            try await measureDelay(client, runner: runner, analytics: analytics)
        }
    }

    /// Simulates journeys (seed after seed) until the log holds `events`; returns the count.
    private func simulate(_ client: WaymarkClient, catalog: JourneyCatalog, logger: Logger) async throws -> Int {
        let simulator = Simulator(client: client, logger: logger)
        let clock = ContinuousClock()
        let started = clock.now
        var total = 0
        var seed: UInt64 = 1
        while total < events {
            // About 17 events per journey with its customer's share.
            let journeys = max(100, (events - total) / 17)
            _ = try await simulator.run(SimulationOptions(journeys: journeys, seed: seed, until: Date(timeIntervalSince1970: 1_790_000_000)))
            total = Int(try await client.store.pool.query("SELECT count(*) FROM events")[0].decode(Int64.self, at: 0))
            seed += 1
        }
        let elapsed = clock.now - started
        print(String(format: "simulated: %d events in %.1f s (%.0f events/s through the client)", total, elapsed.seconds, Double(total) / elapsed.seconds))
        return total
    }

    /// COPYs the log's rows, read beforehand, into an events-shaped table without indexes and
    /// then into one with the log's indexes; returns events/s of each.
    private func copyBaseline(_ store: EventStore, total: Int) async throws -> (plain: Double, indexed: Double) {
        let columns = try await store.pool.query(
            """
            SELECT column_name FROM information_schema.columns WHERE table_schema = \(store.schema) AND table_name = 'events' ORDER BY ordinal_position
            """
        ).map { try $0.decode(String.self, at: 0) }
        let list = columns.map(PostgresIdentifier.quote).joined(separator: ", ")
        var chunks: [[[String?]]] = []
        var last: (UInt64, Int64) = (0, 0)
        while true {
            let rows = try await store.pool.query(
                PostgresQuery(
                    sql:
                        "SELECT \(list), tx_id::text::int8 AS page_tx, global_id AS page_id FROM events WHERE (tx_id, global_id) > ($1::text::xid8, $2) ORDER BY tx_id, global_id LIMIT 50000",
                    binds: [String(last.0), last.1]))
            guard !rows.isEmpty else { break }
            chunks.append(try rows.map { row in try (0..<columns.count).map { try row.decode(String?.self, at: $0) } })
            last = (UInt64(try rows[rows.count - 1].decode(Int64.self, at: columns.count)), try rows[rows.count - 1].decode(Int64.self, at: columns.count + 1))
        }
        // The plain COPY three times (its rate swung by a tenth from run to run; the median is the
        // baseline), the indexed one once.
        var plain: [Double] = []
        var indexed = 0.0
        for withIndexes in [false, false, false, true] {
            let table = withIndexes ? "copy_indexed" : "copy_plain"
            try await store.pool.query(
                PostgresQuery(sql: "CREATE UNLOGGED TABLE \(table) (LIKE events INCLUDING DEFAULTS\(withIndexes ? " INCLUDING INDEXES" : ""))"))
            try await store.pool.query(PostgresQuery(sql: "ALTER TABLE \(table) SET LOGGED"))
            try await settle(store)
            let clock = ContinuousClock()
            let started = clock.now
            for chunk in chunks {
                try await store.transaction { _ = try await $0.copyIn("COPY \(table) (\(list)) FROM STDIN", rows: chunk) }
            }
            let elapsed = clock.now - started
            let rate = Double(total) / elapsed.seconds
            if withIndexes { indexed = rate } else { plain.append(rate) }
            print(
                String(
                    format: "COPY into an events-shaped table %@: %d events in %.2f s = %.0f events/s",
                    withIndexes ? "with the log's indexes" : "without indexes", total, elapsed.seconds, rate))
            try await store.pool.query(PostgresQuery(sql: "DROP TABLE \(table)"))
        }
        let median = plain.sorted()[plain.count / 2]
        print(String(format: "plain COPY: median %.0f events/s", median))
        return (median, indexed)
    }

    /// Times a build of every projection from the whole log, the first one or a rebuild of all
    /// beside the live builds (as `waymark projections rebuild` asks for); returns log events/s.
    private func timeBuild(_ runner: ProjectionRunner, total: Int, rebuild: Bool) async throws -> Double {
        try await tidyUp(runner)
        try await settle(runner.store)
        let clock = ContinuousClock()
        let started = clock.now
        let cpuBefore = BenchComparison.processCPU()
        var requested: [String: Int] = [:]
        if rebuild {
            for projection in runner.projections { requested[projection.name] = try await runner.requestRebuild(projection.name) }
        }
        let builds = requested
        // Each projection's own build time, to show which one the total waits for.
        let finished = try await withThrowingTaskGroup(of: (String, Duration).self) { group in
            for projection in runner.projections {
                group.addTask {
                    if let build = builds[projection.name] {
                        while try await !runner.builds().contains(where: { $0.name == projection.name && $0.build == build && $0.state == .live }) {
                            guard clock.now - started < .seconds(3_600) else {
                                throw ValidationError("projection \(projection.name) was not rebuilt within an hour")
                            }
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                    guard try await runner.waitUntilCaughtUp(projection.name, timeout: .seconds(3_600)) else {
                        throw ValidationError("projection \(projection.name) did not catch up within an hour")
                    }
                    return (projection.name, clock.now - started)
                }
            }
            return try await Dictionary(group.reduce(into: []) { $0.append($1) }) { first, _ in first }
        }
        let elapsed = clock.now - started
        let cpu = BenchComparison.processCPU() - cpuBefore
        let rate = Double(total) / elapsed.seconds
        print(
            String(
                format: "%@ of every read model (%@) from the log: %.2f s = %.0f log events/s; this process's CPU %.2f s (%.1f µs per event)",
                rebuild ? "rebuild" : "build", runner.projections.map(\.name).joined(separator: ", "), elapsed.seconds, rate, cpu,
                cpu / Double(total) * 1e6))
        for status in try await runner.status() where status.record.state == .live {
            print(
                String(
                    format: "  %@: built in %.2f s, %lld events handled, %lld ignored", status.record.name, finished[status.record.name]?.seconds ?? 0,
                    status.record.eventsHandled, status.record.eventsIgnored))
        }
        return rate
    }

    /// Waits for the runner to drop the tables of the builds the last switch retired, then vacuums
    /// and analyzes the live ones: what a switch leaves to do (autovacuum of a build's fresh tables,
    /// turned on as it goes live) is done before the next build is timed, not during it.
    private func tidyUp(_ runner: ProjectionRunner) async throws {
        let store = runner.store
        let deadline = ContinuousClock.now + .seconds(60)
        while try await runner.retiredLeftoversRemain() {
            guard ContinuousClock.now < deadline else { throw ValidationError("the runner left a retired build's tables for a minute") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let tables = try await store.pool.query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = \(store.schema) AND tablename LIKE 'proj\\_%'"
        ).map { try $0.decode(String.self, at: 0) }
        if !tables.isEmpty { try await store.pool.query(PostgresQuery(sql: "VACUUM (ANALYZE) \(tables.joined(separator: ", "))")) }
    }

    /// Writes the dirty pages of what ran before, so that each timed phase starts alike and none
    /// pays for another's writes (a checkpoint due to the simulation's WAL landed in one phase or
    /// another and moved the COPY's rate by a quarter from run to run).
    private func settle(_ store: EventStore) async throws {
        do {
            try await store.pool.query("CHECKPOINT")
        } catch let error as PostgresError where error.code == SQLState.insufficientPrivilege {
            if !BenchProjections.warnedCheckpoint.exchange(true, ordering: .relaxed) {
                print("note: no CHECKPOINT between phases (the user may not run it); phases may pay for each other's writes")
            }
        }
    }

    static let warnedCheckpoint = Atomic(false)

    /// Starts journeys at `rate` per second for `seconds` and watches the journeys view for each:
    /// the delay from the append's commit (the call's return) to the row being there. The view is
    /// read for the ids not seen yet after each commit of the journeys projection, and at the
    /// latest every 5 ms (for a row that was there before its id was handed over); polling it every
    /// millisecond, as this did before, loaded the two cores it measures with 1,000 reads a second.
    private func measureDelay(_ client: WaymarkClient, runner: ProjectionRunner, analytics: String) async throws {
        let store = runner.store
        guard let journeysCommitted = runner.committed["journeys"] else { throw ValidationError("the runner has no journeys projection") }
        let clock = ContinuousClock()
        let (rate, seconds) = (self.rate, self.seconds)
        let total = rate * seconds
        let start = clock.now + .milliseconds(100)
        let senders = 4
        // A store kept between runs has the journeys of the runs before.
        let run = UUID().uuidString.prefix(8).lowercased()
        let shared = DelayWatch(senders: senders)
        let delays = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for sender in 0..<senders {
                group.addTask {
                    for index in stride(from: sender, to: total, by: senders) {
                        try await clock.sleep(until: start + .seconds(Double(index) / Double(rate)))
                        let id = "bench-visible-\(run)-\(index)"
                        try await client.send(.start(.init(journeyId: id, customerId: "bench", journeyType: "support-case", tier: "standard")), to: id)
                        let committed = clock.now
                        shared.pending.withLock { $0[id] = committed }
                    }
                    shared.sending.subtract(1, ordering: .relaxed)
                    return []
                }
            }
            group.addTask {
                var delays: [Duration] = []
                var deadline: ContinuousClock.Instant?
                while delays.count < total {
                    if deadline == nil, shared.sending.load(ordering: .relaxed) == 0 { deadline = clock.now + .seconds(10) }
                    if let deadline, clock.now > deadline { break }
                    let generation = journeysCommitted.generation
                    let ids = shared.pending.withLock { Array($0.keys) }
                    if !ids.isEmpty {
                        let rows = try await store.pool.query(
                            "SELECT journey_id FROM \(identifier: analytics).journeys WHERE journey_id = ANY(\(PostgresArray(ids))::text[])")
                        let seen = clock.now
                        let found = try rows.map { try $0.decode(String.self, at: 0) }
                        shared.pending.withLock { pending in
                            for id in found { if let committed = pending.removeValue(forKey: id) { delays.append(seen - committed) } }
                        }
                    }
                    await journeysCommitted.wait(after: generation, timeout: .milliseconds(5))
                }
                return delays
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all.sorted()
        }
        guard !delays.isEmpty else { throw ValidationError("no appended journey became visible in the journeys view") }
        let p99 = delays[min(delays.count - 1, delays.count * 99 / 100)]
        print(
            String(
                format:
                    "append to visible in analytics.journeys at %d appends/s for %d s: %d of %d seen, p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 ≤ 50 ms) %@",
                rate, seconds, delays.count, total, delays[delays.count / 2].milliseconds, p99.milliseconds, delays[delays.count - 1].milliseconds,
                p99 <= .milliseconds(50) && delays.count == total ? "ok" : "BELOW TARGET"))
    }
}

/// What the delay measurement's senders and watcher share: commit instants of journeys not seen
/// in the view yet, and how many senders are still sending.
final class DelayWatch: Sendable {
    let pending = Mutex<[String: ContinuousClock.Instant]>([:])
    let sending: Atomic<Int>

    init(senders: Int) { sending = Atomic(senders) }
}
