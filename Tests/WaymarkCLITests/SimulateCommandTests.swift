import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@Suite("waymark simulate")
struct SimulateCommandTests {
    @Test("bad options are refused by name before anything runs")
    func badOptions() async throws {
        let cases: [([String], String)] = [
            (["--journeys", "0"], "--journeys must be at least 1"),
            (["--journeys", "5", "--rate", "fast"], "'fast' is invalid for '--rate"),
            (["--journeys", "5", "--until", "yesterday"], "--until 'yesterday' is not an ISO 8601 time"),
            (["--journeys", "5", "--days", "0"], "--days must be between 1 and 3650"),
            (["--journeys", "5", "--definitions", "/nonexistent"], "--definitions: /nonexistent"),
        ]
        for (arguments, expected) in cases {
            let (status, output) = try await waymark(["simulate", "--database-url", "postgresql://nobody@127.0.0.1:1/none"] + arguments)
            #expect(status != 0)
            #expect(output.contains(expected), "\(arguments): \(output)")
        }
    }

    @Test("a run drives journeys through the client, none refused; the same seed again writes nothing")
    func run() async throws {
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("sim")
        let arguments = [
            "simulate", "--journeys", "60", "--seed", "12", "--until", "2026-06-01T00:00:00Z", "--database-url", url, "--schema", schema, "--log-level",
            "warning",
        ]
        let (status, output) = try await waymark(arguments)
        #expect(status == 0, "\(output)")
        #expect(output.contains("journeys: 60 (") && output.contains("customers: 20") && output.contains("refused: 0"), "\(output)")
        let pool = PostgresPool(configuration: PostgresConfiguration(url: url, searchPath: [schema]), maxConnections: 1, logger: TestDatabase.quietLogger)
        defer { Task { await pool.close() } }
        let count = try await pool.query("SELECT count(*) FROM events")[0].decode(Int.self, at: 0)
        #expect(count > 500)
        let (again, againOutput) = try await waymark(arguments)
        #expect(again == 0 && againOutput.contains("refused: 0"), "\(againOutput)")
        #expect(try await pool.query("SELECT count(*) FROM events")[0].decode(Int.self, at: 0) == count)
    }
}
