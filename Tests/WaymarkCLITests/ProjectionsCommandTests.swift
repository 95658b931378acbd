import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("waymark projections")
struct ProjectionsCommandTests {
    @Test("a projection process killed with SIGKILL mid-build resumes with every event counted once: its rows equal a clean rebuild's")
    func killedMidBatch() async throws {
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("pk")
        let analytics = schema + "_an"
        let common = ["--database-url", url, "--schema", schema, "--log-level", "warning"]
        let (simulated, output) = try await waymark(["simulate", "--journeys", "300", "--seed", "5", "--until", "2026-06-01T00:00:00Z"] + common)
        #expect(simulated == 0, "\(output)")
        let pool = PostgresPool(configuration: PostgresConfiguration(url: url, searchPath: [schema]), maxConnections: 2, logger: TestDatabase.quietLogger)
        defer { Task { await pool.close() } }
        func handled() async throws -> Int64 {
            let rows = try await pool.query("SELECT coalesce(sum(events_handled), 0)::int8 FROM projections WHERE name = 'journeys' AND state <> 'retired'")
            return try rows[0].decode(Int64.self, at: 0)
        }
        func total() async throws -> Int64 {
            // The journeys projection reads customers' records too (survivor, current tier).
            try await pool.query("SELECT count(*) FROM events WHERE category IN ('journey', 'customer')")[0].decode(Int64.self, at: 0)
        }
        let events = try await total()
        let run = ["projections", "run", "--analytics-schema", analytics, "--batch-size", "10"] + common
        let first = try startWaymark(run)
        try await eventually("handled() > 0", observing: { try await handled() }, until: { $0 > 0 })
        // Holding the build's journeys table stops the build inside its next batch (readers may
        // still read it), so the kill lands mid-batch however fast the build goes.
        let table = try await pool.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = \(schema) AND tablename LIKE 'proj\\_journeys\\_v%\\_journeys'")[0].decode(String.self, at: 0)
        let atKill = try await pool.withTransaction { held in
            _ = try await held.execute("LOCK TABLE \(identifier: table) IN EXCLUSIVE MODE")
            // The build reaches the lock with its next batch begun (a batch that writes no journey
            // row may still commit before that).
            try await eventually("the build to wait on the held table") {
                try await pool.query(
                    """
                    SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = (quote_ident(\(schema)) || '.' || quote_ident(\(table)))::regclass
                    """)[0].decode(Int.self, at: 0) > 0
            }
            let atKill = try await handled()
            kill(first.processIdentifier, SIGKILL)
            _ = await first.exited()
            return atKill
        }
        #expect(atKill > 0 && atKill < events, "the kill came after the build finished; nothing was tested")
        #expect(try await handled() == atKill)
        let second = try startWaymark(run)
        try await eventually("handled() == events", timeout: .seconds(120), observing: { try await handled() }, until: { $0 == events })
        let snapshot = { () async throws -> [String] in
            let rows = try await pool.query(
                PostgresQuery(
                    sql:
                        "SELECT journey_id || '|' || status || '|' || stage || '|' || handoffs || '|' || handoffs_rejected || '|' || reassignments || '|' || rework_loops || '|' || coalesce(last_csat, -1) FROM \(PostgresIdentifier.quote(analytics)).journeys ORDER BY journey_id"
                ))
            let visits = try await pool.query(
                PostgresQuery(
                    sql:
                        "SELECT count(*)::text || '/' || count(DISTINCT (journey_id, visit_no))::text FROM \(PostgresIdentifier.quote(analytics)).time_in_status"
                ))
            return try rows.map { try $0.decode(String.self, at: 0) } + [try visits[0].decode(String.self, at: 0)]
        }
        let resumed = try await snapshot()
        #expect(resumed.count == 301)
        let (rebuilt, rebuildOutput) = try await waymark(["projections", "rebuild", "journeys", "--analytics-schema", analytics] + common)
        #expect(rebuilt == 0, "\(rebuildOutput)")
        #expect(rebuildOutput.contains("is live"), "\(rebuildOutput)")
        #expect(try await snapshot() == resumed)
        second.terminate()
        _ = await second.exited()
    }
}

/// Starts the built `waymark` binary (in `directory`, else this process's working directory)
/// without waiting for it; what it prints goes to `output` (appended), else nowhere.
func startWaymark(_ arguments: [String], directory: URL? = nil, output: URL? = nil, environment: [String: String] = [:]) throws -> Process {
    let process = Process()
    process.executableURL = try waymarkBinary()
    if let directory { process.currentDirectoryURL = directory }
    process.arguments = arguments
    // It ends with this test process, even one that crashes or is killed.
    process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["WAYMARK_EXIT_WITH_PARENT": "\(getpid())"]) { $1 }) { $1 }
    if let output {
        if !FileManager.default.fileExists(atPath: output.path) { FileManager.default.createFile(atPath: output.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: output)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
    } else {
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
    }
    try process.run()
    return process
}

/// A store on the schema a `waymark` process under test works in, to set up and check its data.
func cliStore(url: String, schema: String, maxConnections: Int = 8) throws -> EventStore {
    try EventStore(
        pool: PostgresPool(
            configuration: EventStore.poolConfiguration(url: url, schema: schema), maxConnections: maxConnections, logger: TestDatabase.quietLogger),
        schema: schema, logger: TestDatabase.quietLogger)
}
