import ArgumentParser
import Foundation
import Logging
import Metrics
import MetricsTestKit
import WaymarkEventStore
import WaymarkPostgres

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks that print figures.", subcommands: [BenchAppend.self, BenchRead.self])

    /// The bench process's metrics backend: the store's counters, read back for the figures.
    static let metrics: TestMetrics = {
        let metrics = TestMetrics()
        MetricsSystem.bootstrap(metrics)
        return metrics
    }()
}

/// Refuses a number below `minimum`, naming the option and the value.
func requireAtLeast(_ minimum: Int, _ value: Int, _ option: String) throws {
    guard value >= minimum else { throw ValidationError("\(option) \(value) is out of range: it must be at least \(minimum)") }
}

/// Runs `body` on an event store in a new schema of the resolved database, and drops the schema
/// afterwards, also when `body` fails.
func withBenchStore(
    _ database: DatabaseOptions, maxConnections: Int = 18, announceInterval: Duration = .milliseconds(20), _ body: (EventStore) async throws -> Void
) async throws {
    var logger = database.logger
    logger.logLevel = max(logger.logLevel, .warning)
    _ = Bench.metrics
    try await withDatabase(database) { url in
        let schema = "bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        _ = try await migrate(url: url, schema: schema, logger: logger, directory: nil)
        let store = try EventStore.connect(url: url, schema: schema, maxConnections: maxConnections, logger: logger, announceInterval: announceInterval)
        do {
            try await body(store)
        } catch {
            _ = try? await store.pool.query("DROP SCHEMA \(identifier: schema) CASCADE")
            await store.close()
            throw error
        }
        try await store.pool.query("DROP SCHEMA \(identifier: schema) CASCADE")
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
