import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkRuntime

/// How late the process manager fires deadlines that come due together, and how fast it works off a
/// backlog, beside plain appends of the events it records, in the same run.
struct BenchProcessManager: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "process-manager",
        abstract: "Deadlines due within a window fired by several instances: lateness p50/p99/max, and a backlog's firing rate against plain appends.")

    @OptionGroup var database: RuntimeOptions

    @Option(parsing: .unconditional, help: "Deadlines (one per journey) per phase.")
    var deadlines: Int = 10_000

    @Option(parsing: .unconditional, help: "Seconds over which the first phase's deadlines come due.")
    var window: Int = 10

    @Option(parsing: .unconditional, help: "Process manager instances firing at once.")
    var instances: Int = 2

    func validate() throws {
        try requireAtLeast(100, deadlines, "--deadlines")
        try requireAtLeast(1, window, "--window")
        try requireAtLeast(1, instances, "--instances")
    }

    /// One stage that stalls an hour after it is entered: one deadline per journey, on the wall clock.
    static let definition = """
        journey_type: bench-stall
        version: "1"
        description: A journey whose only deadline is its first stage's stall.
        tiers: [standard]
        stages:
          - {id: waiting, department: service, max_dwell: 1h, milestones: [answered]}
          - {id: answered, department: service, max_dwell: 30d, milestones: [closed]}
        transitions:
          - {from: waiting, to: answered}
        """

    static let settings = """
        routing: {service-escalations: "queue:service-escalations", finance-operations: "queue:finance-operations"}
        low_score: {role: service-escalations, csat_at_most: 2, nps_at_most: 6}
        compensations: {due_within: 2d, role: finance-operations}
        """

    static let calendars = """
        calendars:
          around-the-clock:
            time_zone: UTC
            hours: {monday: "00:00-24:00", tuesday: "00:00-24:00", wednesday: "00:00-24:00", thursday: "00:00-24:00", friday: "00:00-24:00", saturday: "00:00-24:00", sunday: "00:00-24:00"}
        """

    /// The bench's configuration folder (a temporary one) read back as the process manager reads it.
    static func benchConfiguration() throws -> (JourneyCatalog, ProcessManagerSettings) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("journeys"), withIntermediateDirectories: true)
        try calendars.write(to: folder.appendingPathComponent("calendars.yaml"), atomically: true, encoding: .utf8)
        try definition.write(to: folder.appendingPathComponent("journeys/bench-stall.yaml"), atomically: true, encoding: .utf8)
        try settings.write(to: folder.appendingPathComponent(ProcessManagerSettings.fileName), atomically: true, encoding: .utf8)
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: folder))
        return (catalog, try ProcessManagerSettings.load(directory: folder, catalog: catalog))
    }

    func run() async throws {
        let (catalog, settings) = try Self.benchConfiguration()
        try await withBenchStore(database, maxConnections: 12) { store in
            var quiet = Logger(label: "waymark.bench")
            quiet.logLevel = .warning
            try await ProcessManagerSchema.migrate(store.pool, schema: store.schema, logger: quiet)
            let client = WaymarkClient(store: store, catalog: catalog, logger: quiet)
            let fleet = Fleet(store: store, definitions: DefinitionLibrary(catalog), settings: settings, instances: instances, logger: quiet)
            print("waymark bench process-manager")
            try await printServer(store)
            print("  \(deadlines) stall deadlines per phase, one per journey, fired by \(instances) process manager instances (a pool of 4 each)")

            // Phase 1: due times spread over the window, fired as they come due.
            let base = Date(timeIntervalSince1970: 1_767_571_200)  // 2026-01-05T00:00:00Z
            let spread = Double(window) / Double(deadlines)
            try await startJourneys(client, prefix: "due", count: deadlines) { base.addingTimeInterval(Double($0) * spread) }
            try await fleet.schedule(until: base)
            // The instances' clock reads one second before the first due time when they start.
            let firstDue = base.addingTimeInterval(3_600)
            let phase1 = try await fleet.fire(count: deadlines, clockStartsAt: firstDue.addingTimeInterval(-1))
            let lateness = try await Self.lateness(store, prefix: "due")
            print(
                String(
                    format: "due within %d s: lateness p50 %.3f s  p99 %.3f s  max %.3f s (target p99 ≤ 1 s) %@; all fired %.2f s after the first was due",
                    window, lateness.p50, lateness.p99, lateness.max, lateness.p99 <= 1 ? "ok" : "ABOVE TARGET", phase1.seconds - 1))

            // Phase 2: a backlog (everything overdue when the instances start) against plain appends.
            try await startJourneys(client, prefix: "backlog", count: deadlines) { _ in base }
            try await fleet.schedule(until: base)
            let plain = try await plainAppends(store, recordedBy: "due", perTransaction: 1)
            let batched = try await plainAppends(store, recordedBy: "due", perTransaction: 500)
            let backlog = try await fleet.fire(count: deadlines, clockStartsAt: firstDue.addingTimeInterval(60))
            let firedPerSecond = Double(deadlines) / backlog.seconds
            let ratio = firedPerSecond / plain
            print(
                String(
                    format:
                        "backlog: fired %.0f deadlines/s | plain appends of the same events %.0f/s (%d writers) | ratio %.2f (target ≥ 0.5) %@ | in transactions of 500 as firing commits them %.0f/s, ratio %.2f",
                    firedPerSecond, plain, instances, ratio, ratio >= 0.5 ? "ok" : "BELOW TARGET", batched, firedPerSecond / batched))
        }
    }

    /// Starts `count` journeys, the `i`th at `startedAt(i)`, from 8 concurrent senders.
    private func startJourneys(_ client: WaymarkClient, prefix: String, count: Int, startedAt: @escaping @Sendable (Int) -> Date) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<8 {
                group.addTask {
                    for index in stride(from: sender, to: count, by: 8) {
                        let context = CommandContext(commandId: UUID(), actor: "bench", sourceSystem: "bench", occurredAt: startedAt(index))
                        try await client.send(
                            .start(.init(customerId: "c-\(index)", journeyType: "bench-stall", tier: "standard")), to: "\(prefix)-\(index)", context: context)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The process manager's firing (not its scheduling) and its lateness, per phase, from `pm_deadlines`.
    static func lateness(_ store: EventStore, prefix: String) async throws -> (p50: Double, p99: Double, max: Double) {
        let rows = try await store.pool.query(
            """
            SELECT extract(epoch FROM lateness)::float8 FROM pm_deadlines
            WHERE state = 'fired' AND journey_id LIKE \(prefix + "-%") ORDER BY lateness
            """)
        let sorted = try rows.map { try $0.decode(Double.self, at: 0) }
        guard let last = sorted.last else { return (0, 0, 0) }
        return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)], last)
    }

    /// Appends the events the first phase's firing recorded, again, to streams of their own (one
    /// append per journey, as a firing appends to each journey), from as many writers as there are
    /// instances, each append committed alone or `perTransaction` to a transaction; events per second.
    private func plainAppends(_ store: EventStore, recordedBy prefix: String, perTransaction: Int) async throws -> Double {
        var appends: [(String, EventData)] = []
        var position = GlobalPosition.start
        while true {
            let slice = try await store.readCategory(JourneyDecider.category, after: position, limit: 5_000)
            for event in slice.events where event.metadata.actor == "process-manager" && event.streamName.hasPrefix("journey-\(prefix)-") {
                appends.append(("plain\(perTransaction)-\(event.streamName)", EventData(type: event.type, data: event.data, metadata: event.metadata)))
            }
            position = slice.nextPosition
            if slice.isEnd { break }
        }
        let writers = instances
        let all = appends
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let mine = Array(stride(from: writer, to: all.count, by: writers))
                    for start in stride(from: 0, to: mine.count, by: perTransaction) {
                        let chunk = mine[start..<min(start + perTransaction, mine.count)]
                        if perTransaction == 1 {
                            try await store.append(to: all[chunk.first!].0, expected: .noStream, events: [all[chunk.first!].1])
                            continue
                        }
                        try await store.transaction { transaction in
                            for index in chunk { try await transaction.append(to: all[index].0, expected: .noStream, events: [all[index].1]) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(appends.count) / (clock.now - started).seconds
    }
}

/// The bench's process managers: one that schedules, then `instances` that fire, each on a pool of
/// its own as separate processes would be.
struct Fleet {
    let store: EventStore
    let definitions: DefinitionLibrary
    let settings: ProcessManagerSettings
    let instances: Int
    let logger: Logger

    /// Folds the log into deadlines on a clock standing at `until` (before anything is due), then stops.
    func schedule(until now: Date) async throws {
        let manager = try ProcessManager(
            store: store, definitions: definitions, settings: settings, time: WallTime(ContinuousClock(), origin: now), instance: "bench-scheduler",
            logger: logger)
        try await running([manager], logger: logger) {
            guard try await manager.waitUntilScheduled(timeout: .seconds(600)) else {
                throw ValidationError("the process manager did not schedule the journeys within 10 minutes")
            }
        }
    }

    /// Starts the instances on clocks that read `clockStartsAt` now, and waits until `count` more
    /// deadlines have fired; the time that took.
    func fire(count: Int, clockStartsAt: Date) async throws -> Duration {
        func fired() async throws -> Int {
            try await store.pool.query("SELECT count(*)::int8 FROM pm_deadlines WHERE state = 'fired'")[0].decode(Int.self, at: 0)
        }
        let before = try await fired()
        var stores: [EventStore] = []
        var managers: [ProcessManager] = []
        for index in 0..<instances {
            let pool = PostgresPool(configuration: store.pool.configuration, maxConnections: 4, logger: logger)
            let store = try EventStore(pool: pool, schema: store.schema, logger: logger)
            stores.append(store)
            managers.append(
                try ProcessManager(
                    store: store, definitions: definitions, settings: settings, time: WallTime(ContinuousClock(), origin: clockStartsAt),
                    instance: "bench-\(index + 1)", logger: logger))
        }
        let clock = ContinuousClock()
        let started = clock.now
        let elapsed = try await running(managers, logger: logger) {
            let limit = started + .seconds(600)
            while try await fired() < before + count {
                guard clock.now < limit else { throw ValidationError("the deadlines did not all fire within 10 minutes") }
                try await Task.sleep(for: .milliseconds(10))
            }
            return clock.now - started
        }
        for store in stores { await store.close() }
        return elapsed
    }
}
