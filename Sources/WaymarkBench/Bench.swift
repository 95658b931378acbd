import ArgumentParser
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import WaymarkEventStore
import WaymarkPostgres
import WaymarkRuntime

/// `waymark bench …`: the benchmarks, a library the CLI links so that their code stays out of it.
public struct Bench: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures.",
        subcommands: [
            BenchAppend.self, BenchRead.self, BenchCommands.self, BenchProjections.self, BenchProcessManager.self, BenchNotifications.self,
            BenchHTTP.self, BenchConsole.self,
        ])

    /// The bench process's metrics backend: counters it reads back for the figures; timers,
    /// gauges and the rest cost nothing, so the waymark side pays no more than a production
    /// backend would.
    static let metrics: CountingMetrics = {
        let metrics = CountingMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()
}

/// Refuses a number below `minimum`, naming the option and the value.
func requireAtLeast(_ minimum: Int, _ value: Int, _ option: String) throws {
    guard value >= minimum else { throw ValidationError("\(option) \(value) is out of range: it must be at least \(minimum)") }
}

/// Runs `body` on an event store in a new schema of the configured database, and drops the schema
/// afterwards, also when `body` fails.
func withBenchStore(
    _ options: RuntimeOptions, maxConnections: Int = 18, announceInterval: Duration = .milliseconds(20), existingSchema: String? = nil,
    _ body: (EventStore) async throws -> Void
) async throws {
    let configured = try options.runtime()
    var logger = configured.logger
    logger.logLevel = max(logger.logLevel, .warning)
    let runtime = WaymarkRuntime(configuration: configured.configuration, logger: logger)
    _ = Bench.metrics
    try await runtime.withDatabase { database in
        if let existingSchema {
            // A store filled before (a large one takes long to simulate): used as it is, and kept.
            let store = try await database.store(for: .bench, schema: existingSchema, poolSize: maxConnections, announceInterval: announceInterval)
            do { try await body(store) } catch {
                await store.close()
                throw error
            }
            await store.close()
            return
        }
        let schema = "bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let store = try await database.store(for: .bench, schema: schema, poolSize: maxConnections, announceInterval: announceInterval)
        // On a connection of its own: a bench may have run the store as a service, whose shutdown
        // closed its pool.
        func dropSchema() async throws {
            let connection = try await PostgresConnection.connect(store.pool.configuration)
            do {
                try await connection.query("DROP SCHEMA \(identifier: schema) CASCADE")
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        }
        do {
            try await body(store)
        } catch {
            try? await dropSchema()
            await store.close()
            throw error
        }
        try await dropSchema()
        await store.close()
    }
}

/// The server's version and durability settings, for the head of a bench's output.
func printServer(_ store: EventStore) async throws {
    let settings = try await store.pool.query(
        "SELECT version(), current_setting('fsync'), current_setting('synchronous_commit'), current_setting('shared_buffers')")[0]
    let (version, fsync, syncCommit, sharedBuffers) = try settings.decode(String.self, String.self, String.self, String.self)
    print("  \(version.split(separator: ",").first ?? "")")
    print("  fsync=\(fsync) synchronous_commit=\(syncCommit) shared_buffers=\(sharedBuffers); \(ProcessInfo.processInfo.activeProcessorCount) cores")
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1000 }
}

/// A metrics backend that only counts: each counter is an atomic, everything else a no-op.
final class CountingMetrics: MetricsFactory {
    final class AtomicCounter: CounterHandler {
        let value = Atomic<Int64>(0)
        func increment(by amount: Int64) { value.add(amount, ordering: .relaxed) }
        func reset() { value.store(0, ordering: .relaxed) }
    }

    private let counters = Mutex<[String: AtomicCounter]>([:])

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: ",")
    }

    /// The total of the counter with `label` and `dimensions`, 0 when none was made.
    func total(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        counters.withLock { $0[Self.key(label, dimensions)] }?.value.load(ordering: .relaxed) ?? 0
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        counters.withLock { counters in
            let key = Self.key(label, dimensions)
            if let counter = counters[key] { return counter }
            let counter = AtomicCounter()
            counters[key] = counter
            return counter
        }
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> FloatingPointCounterHandler { NOOPMetricsHandler.instance }
    func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler { NOOPMetricsHandler.instance }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler { NOOPMetricsHandler.instance }
    func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: FloatingPointCounterHandler) {}
    func destroyMeter(_ handler: MeterHandler) {}
    func destroyRecorder(_ handler: RecorderHandler) {}
    func destroyTimer(_ handler: TimerHandler) {}
}

/// Runs `services` while `body` runs, then shuts them down gracefully.
func running<T: Sendable>(_ services: [any Service], logger: Logger, _ body: () async throws -> T) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let value = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return value
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}
