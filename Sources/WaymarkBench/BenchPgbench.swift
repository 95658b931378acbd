import Foundation
import WaymarkPostgres

/// The plain INSERT run by `pgbench -M prepared`, the PostgreSQL server package's own load tool,
/// against the same table shape with the same payload, in the same run: the baseline that pays no
/// Swift overhead at all.
enum PgbenchBaseline {
    struct Figures {
        var eventsPerSecond: Double
        var latency: Double
        /// pgbench's own CPU time per transaction, in microseconds.
        var clientCPU: Double
    }

    /// One event per transaction (`size` 1) or `size` events in one INSERT, by `clients` clients,
    /// `transactions` in all.
    static func run(url: String, schema: String, table: String, size: Int, clients: Int, transactions: Int, payload: String, metadataJSON: String) throws
        -> Figures
    {
        let bin = try LocalPostgresCluster.findBinDirectory() + "/pgbench"
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            throw PostgresError(code: PostgresError.invalidArgument, message: "pgbench was not found beside initdb in \(bin)")
        }
        // The payloads travel as pgbench variables, which `-M prepared` sends as bind parameters: the
        // server parses every event's JSON on every execution, as it does for the other sides. Each
        // transaction writes a new stream: pgbench has no per-client counter to track versions.
        var variables = ["meta=\(metadataJSON)"]
        let sql: String
        if size == 1 {
            variables.append("payload=\(payload)")
            sql = """
                INSERT INTO \(table) (stream_name, stream_version, event_id, event_type, data, metadata) \
                VALUES ('pgbench-' || gen_random_uuid(), 1, gen_random_uuid(), 'MilestoneReached', :payload::jsonb, :meta::jsonb) \
                RETURNING tx_id, global_id;
                """
        } else {
            variables += (1...size).map { "p\($0)=\(payload)" }
            let array = (1...size).map { ":p\($0)" }.joined(separator: ", ")
            sql = """
                INSERT INTO \(table) (stream_name, stream_version, event_id, event_type, data, metadata) \
                SELECT s.name, u.ord, gen_random_uuid(), 'MilestoneReached', u.d, :meta::jsonb \
                FROM (SELECT 'pgbench-' || gen_random_uuid() AS name) AS s, unnest(ARRAY[\(array)]::jsonb[]) WITH ORDINALITY AS u(d, ord) \
                RETURNING tx_id, global_id;
                """
        }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-pgbench-\(UUID().uuidString).sql")
        try (sql + "\n").write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments =
            [
                "-n", "-M", "prepared", "-c", String(clients), "-j", String(min(clients, 2)), "-t", String(max(1, transactions / clients)), "-f", script.path,
            ] + variables.flatMap { ["-D", $0] } + [url]
        var environment = ProcessInfo.processInfo.environment
        environment["PGOPTIONS"] = "-c search_path=\(schema)"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let cpuBefore = childrenCPU()
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let cpu = childrenCPU() - cpuBefore
        guard process.terminationStatus == 0 else {
            throw PostgresError(code: PostgresError.clientFailure, message: "pgbench failed: \(text.suffix(400))")
        }
        func number(after label: String) -> Double? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(label) }) else { return nil }
            return line.dropFirst(label.count).split(whereSeparator: { $0 == " " || $0 == "/" }).first.flatMap { Double($0) }
        }
        guard let tps = number(after: "tps = "), let latency = number(after: "latency average = "),
            let done = number(after: "number of transactions actually processed: ")
        else {
            throw PostgresError(code: PostgresError.clientFailure, message: "cannot read pgbench's figures: \(text.suffix(400))")
        }
        return Figures(eventsPerSecond: tps * Double(size), latency: latency, clientCPU: cpu / done * 1e6)
    }

    private static func childrenCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
