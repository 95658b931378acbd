import ArgumentParser
import Foundation
import Logging
import Synchronization
import WaymarkEventStore
import WaymarkPostgres
import WaymarkRuntime

/// Appends through the event store beside the same rows written as plain INSERTs into an
/// equivalent table (same columns, defaults and indexes, no append logic), in the same run.
struct BenchAppend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Single-event appends at 1 and 16 writers, 100-event batches and global reads, against plain INSERTs.")

    @OptionGroup var database: RuntimeOptions

    @Option(parsing: .unconditional, help: "Single-event operations per scenario and side.")
    var events: Int = 8_000

    @Option(parsing: .unconditional, help: "100-event batches per scenario and side.")
    var batches: Int = 512

    @Option(parsing: .unconditional, help: "Full passes over the log for the global read figure.")
    var readPasses: Int = 3

    @Option(help: "Run only these scenarios (repeatable): single1, single16, batch1, batch16, lookup1, lookup16, hot, read. Default: all.")
    var only: [String] = []

    func wanted(_ scenario: String) -> Bool { only.isEmpty || only.contains(scenario) }

    @Option(parsing: .unconditional, help: "Milliseconds between the coalesced NOTIFYs that announce appends to other processes.")
    var announceMs: Int = 20

    func validate() throws {
        try requireAtLeast(128, events, "--events")
        try requireAtLeast(128, batches, "--batches")
        try requireAtLeast(1, readPasses, "--read-passes")
        try requireAtLeast(1, announceMs, "--announce-ms")
        let scenarios = ["single1", "single16", "batch1", "batch16", "lookup1", "lookup16", "hot", "read"]
        for name in only where !scenarios.contains(name) {
            throw ValidationError("--only \(name): not a scenario; one of \(scenarios.joined(separator: ", "))")
        }
    }

    func run() async throws {
        try await withBenchStore(database, announceInterval: .milliseconds(announceMs)) { store in try await runBench(store) }
    }

    typealias Figures = BenchComparison.Figures

    /// Single-event appends by one writer that holds one session for both sides (its code runs on
    /// that connection's thread), alternating the sides operation by operation as `compare` does
    /// for one writer.
    func sessionScenario(_ store: EventStore, plainSQL: String, metadataJSON: String) async throws -> (waymark: Figures, plain: Figures) {
        try await store.withSession { session in
            let version = Mutex<Int64>(0)
            return try await BenchComparison.compare(
                writers: 1, count: events, eventsPerOperation: 1,
                waymark: { _, index in
                    let event = EventData(type: "MilestoneReached", data: Self.payload(0, index), metadata: Self.metadata)
                    let expected = version.withLock { $0 }
                    let result = try await session.append(to: "benchsession-w", expected: .exact(expected), events: [event])
                    version.withLock { $0 = result.streamVersion }
                },
                plain: { _, index in
                    try await session.query(
                        PostgresQuery(
                            sql: plainSQL,
                            binds: [
                                "benchsession-p", Int64(index + 1), UUID.timeOrdered().lowercasedText, "MilestoneReached", Self.payload(0, index), metadataJSON,
                            ]))
                })
        }
    }

    /// Single-event appends by `writers` writers, each holding a session for its whole run and
    /// appending to 10 streams of its own with exact expected versions.
    func sessionWriters(_ store: EventStore, writers: Int, count: Int, tag: String) async throws -> Figures {
        let clock = ContinuousClock()
        let perWriter = count / writers
        let cpuBefore = BenchComparison.processCPU()
        let started = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    try await store.withSession { session in
                        var versions = [Int64](repeating: 0, count: 10)
                        var mine: [Duration] = []
                        mine.reserveCapacity(perWriter)
                        for index in 0..<perWriter {
                            let began = clock.now
                            let event = EventData(type: "MilestoneReached", data: Self.payload(writer, index), metadata: Self.metadata)
                            let result = try await session.append(
                                to: "benchsessions\(tag)-w\(writer)x\(index % 10)", expected: .exact(versions[index % 10]), events: [event])
                            versions[index % 10] = result.streamVersion
                            mine.append(clock.now - began)
                        }
                        return mine
                    }
                }
            }
            var all: [Duration] = []
            for try await mine in group { all += mine }
            return all
        }
        return Figures(latencies: latencies, time: clock.now - started, cpu: BenchComparison.processCPU() - cpuBefore, eventsPerOperation: 1)
    }

    static func payload(_ writer: Int, _ index: Int) -> String {
        #"{"journeyId":"j-\#(writer)-\#(index)","milestone":"kickoff-held","department":"onboarding","tier":"gold","attributes":{"region":"emea","channel":"partner","owner":"ana.silva"}}"#
    }

    static let metadata = EventMetadata(correlationId: "bench-correlation", causationId: "bench-command", actor: "bench", sourceSystem: "bench")

    func runBench(_ store: EventStore) async throws {
        let pool = store.pool
        try await pool.query("CREATE TABLE plain_events (LIKE events INCLUDING ALL)")
        print("waymark bench append")
        try await printServer(store)
        print("  waymark side: EventStore.append with .exact(n), n from the writer's own last append")
        print(
            "  plain side: the same rows (time-ordered UUID ids, same JSON) INSERTed into plain_events (LIKE events INCLUDING ALL), RETURNING their positions")
        print("  one writer alternates the sides operation by operation; 16 writers alternate them in ABBA rounds\n")

        let metadataJSON = #"{"actor": "bench", "causation_id": "bench-command", "source_system": "bench", "correlation_id": "bench-correlation"}"#
        let plainSingle = """
            INSERT INTO plain_events (stream_name, stream_version, event_id, event_type, data, metadata)
            VALUES ($1, $2, $3::uuid, $4, $5::jsonb, $6::jsonb) RETURNING tx_id, global_id
            """
        let plainBatch = """
            INSERT INTO plain_events (stream_name, stream_version, event_id, event_type, data, metadata)
            SELECT $1, $2 + u.ord, u.id, u.t, u.d, u.m
            FROM unnest($3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[]) WITH ORDINALITY AS u(id, t, d, m, ord)
            RETURNING tx_id, global_id
            """
        // Each writer cycles over 10 streams of its own; versions are tracked per side and scenario.
        let versions = Mutex<[String: Int64]>([:])
        @Sendable func nextVersion(_ key: String, by count: Int64) -> Int64 {
            versions.withLock { table in
                let current = table[key, default: 0]
                table[key] = current + count
                return current
            }
        }

        // The same store without a memory of stream versions: every append looks the version up.
        var quiet = Logger(label: "waymark.bench")
        quiet.logLevel = .warning
        let forgetful = try EventStore(pool: pool, schema: store.schema, logger: quiet, knownStreamVersions: 0)

        /// Appends of `size` events by `writers` writers, each cycling over 10 streams of its own.
        /// The waymark side expects `.exact(n)`, n being the version its own last append returned,
        /// as a writer that tracks its streams does. With `lookUp`, the store remembers no versions,
        /// so that every append looks the stream's version up in the database (what a process pays
        /// for a stream it has not seen). One event goes to the plain side as a one-row
        /// INSERT … VALUES, more as INSERT … unnest.
        func scenario(size: Int, writers: Int, lookUp: Bool = false) async throws -> (Figures, Figures) {
            let tag = "\(size)x\(writers)\(lookUp ? "l" : "")"
            let appender = lookUp ? forgetful : store
            return try await BenchComparison.compare(
                writers: writers, count: size == 1 ? events : batches, eventsPerOperation: size,
                waymark: { writer, index in
                    let stream = "bench\(tag)-w\(writer)x\(index % 10)"
                    let expected = nextVersion("w:" + stream, by: Int64(size))
                    let batch = (0..<size).map { EventData(type: "MilestoneReached", data: Self.payload(writer, index * size + $0), metadata: Self.metadata) }
                    try await appender.append(to: stream, expected: .exact(expected), events: batch)
                },
                plain: { writer, index in
                    let stream = "bench\(tag)-w\(writer)x\(index % 10)"
                    let base = nextVersion("p:" + stream, by: Int64(size))
                    if size == 1 {
                        try await pool.query(
                            PostgresQuery(
                                sql: plainSingle,
                                binds: [stream, base + 1, UUID.timeOrdered().lowercasedText, "MilestoneReached", Self.payload(writer, index), metadataJSON]))
                    } else {
                        try await pool.query(
                            PostgresQuery(
                                sql: plainBatch,
                                binds: [
                                    stream, base, PostgresArray((0..<size).map { _ in UUID.timeOrdered().lowercasedText }),
                                    PostgresArray(Array(repeating: "MilestoneReached", count: size)),
                                    PostgresArray((0..<size).map { Self.payload(writer, index * size + $0) }),
                                    PostgresArray(Array(repeating: metadataJSON, count: size)),
                                ]))
                    }
                })
        }

        // Warm-up: prepare statements and fill caches on both sides.
        for index in 0..<40 {
            try await store.append(to: "warmup-\(index % 4)", events: [EventData(type: "Warm", data: "{}")])
            try await pool.query(
                PostgresQuery(sql: plainSingle, binds: ["warmup-\(index % 4)", Int64(index / 4 + 1), UUID.timeOrdered().lowercasedText, "Warm", "{}", "{}"]))
        }

        /// The same plain INSERT by `pgbench -M prepared`, right after the scenario it compares with.
        func againstPgbench(_ waymark: Figures, size: Int, clients: Int) throws {
            let pgbench = try PgbenchBaseline.run(
                url: pool.configuration.url, schema: store.schema, table: "plain_events", size: size, clients: clients,
                transactions: size == 1 ? events : batches, payload: Self.payload(0, 0), metadataJSON: metadataJSON)
            let ratio = waymark.eventsPerSecond / pgbench.eventsPerSecond
            var verdict = String(format: "waymark / pgbench %.2f (target ≥ 0.8) %@", ratio, (ratio >= 0.8 ? "ok" : "BELOW TARGET") as NSString)
            if size == 1 {
                verdict += String(
                    format: "; waymark client CPU %.1f µs per append (target ≤ 45) %@", waymark.clientCPU,
                    (waymark.clientCPU <= 45 ? "ok" : "ABOVE TARGET") as NSString)
            }
            print(
                "  pgbench -M prepared, \(clients) client\(clients == 1 ? "" : "s")".padding(toLength: 36, withPad: " ", startingAt: 0),
                String(format: "%9.0f ev/s  latency %7.3f ms | pgbench CPU µs/tx %.1f | ", pgbench.eventsPerSecond, pgbench.latency, pgbench.clientCPU)
                    + verdict)
        }

        func record(_ label: String, _ result: (Figures, Figures), target: Double?) {
            let (w, p) = result
            let ratio = w.eventsPerSecond / p.eventsPerSecond
            let verdict = target.map { String(format: "(target ≥ %.1f) %@", $0, ratio >= $0 ? "ok" : "BELOW TARGET") } ?? "(no target)"
            print(
                label.padding(toLength: 36, withPad: " ", startingAt: 0),
                String(
                    format:
                        "waymark %9.0f ev/s  p50 %7.3f ms  p99 %7.3f ms | plain %9.0f ev/s  p50 %7.3f ms  p99 %7.3f ms | ratio %.2f %@ | client CPU µs/op %.1f vs %.1f",
                    w.eventsPerSecond, w.p50.milliseconds, w.p99.milliseconds,
                    p.eventsPerSecond, p.p50.milliseconds, p.p99.milliseconds, ratio, verdict as NSString, w.clientCPU, p.clientCPU))
        }
        if wanted("single1") {
            let single = try await scenario(size: 1, writers: 1)
            record("single event, 1 writer", single, target: 0.9)
            try againstPgbench(single.0, size: 1, clients: 1)
            // The same plain INSERT straight through libpq on one thread, as pgbench sends it.
            let libpq = try await LibpqBaseline.run(
                configuration: pool.configuration, sql: plainSingle, count: events, payload: { Self.payload(0, $0) }, metadataJSON: metadataJSON)
            print(
                "  libpq on one thread (pgbench's shape)".padding(toLength: 36, withPad: " ", startingAt: 0),
                String(
                    format: "%9.0f ev/s  p50 %7.3f ms | client CPU µs/op %.1f | waymark / libpq %.2f, plain through the Swift layer / libpq %.2f",
                    libpq.eventsPerSecond, libpq.p50.milliseconds, libpq.clientCPU, single.0.eventsPerSecond / libpq.eventsPerSecond,
                    single.1.eventsPerSecond / libpq.eventsPerSecond))
            // Both sides again on one held connection each (`EventStore.withSession`): the code
            // runs on the connection's thread, so no statement is handed between threads.
            let held = try await sessionScenario(store, plainSQL: plainSingle, metadataJSON: metadataJSON)
            record("single event, 1 writer, session", held, target: 0.9)
            print(
                "  session / libpq on one thread".padding(toLength: 36, withPad: " ", startingAt: 0),
                String(format: "waymark %.2f, plain %.2f", held.0.eventsPerSecond / libpq.eventsPerSecond, held.1.eventsPerSecond / libpq.eventsPerSecond))
        }
        if wanted("single16") {
            let figures = try await scenario(size: 1, writers: 16)
            record("single event, 16 writers", figures, target: 0.9)
            try againstPgbench(figures.0, size: 1, clients: 16)
            // Writers that hold a session each: no hand-over between threads per append.
            let sessions = try await sessionWriters(store, writers: 16, count: events, tag: "16")
            print(
                "  16 writers with a session each".padding(toLength: 36, withPad: " ", startingAt: 0),
                String(
                    format: "waymark %9.0f ev/s  p50 %7.3f ms  p99 %7.3f ms | client CPU µs/op %.1f", sessions.eventsPerSecond, sessions.p50.milliseconds,
                    sessions.p99.milliseconds, sessions.clientCPU))
            try againstPgbench(sessions, size: 1, clients: 16)
        }
        if wanted("batch1") {
            let figures = try await scenario(size: 100, writers: 1)
            record("100-event batch, 1 writer", figures, target: 0.8)
            try againstPgbench(figures.0, size: 100, clients: 1)
        }
        if wanted("batch16") {
            let figures = try await scenario(size: 100, writers: 16)
            record("100-event batch, 16 writers", figures, target: 0.8)
            try againstPgbench(figures.0, size: 100, clients: 16)
        }
        if wanted("lookup1") || wanted("lookup16") { print("with no remembered versions, every append looks the stream's version up:") }
        if wanted("lookup1") { record("single event, 1 writer, look-up", try await scenario(size: 1, writers: 1, lookUp: true), target: nil) }
        if wanted("lookup16") { record("single event, 16 writers, look-up", try await scenario(size: 1, writers: 16, lookUp: true), target: nil) }

        if wanted("hot") {
            // Hot streams: 16 writers on 4 streams with .any. The plain side is the least a correct
            // contended append does: look the version up inside the INSERT and try again when another
            // writer took it. The waymark side adds idempotency and the order rule: an append whose own
            // retry inside append_events ran in a transaction older than the stream's last writer is
            // refused and runs again in a new transaction; those retries are the order rule's cost.
            let plainHot = """
                INSERT INTO plain_events (stream_name, stream_version, event_id, event_type, data, metadata)
                SELECT $1, coalesce((SELECT stream_version FROM plain_events WHERE stream_name = $1 ORDER BY stream_version DESC LIMIT 1), 0) + 1,
                       $2::uuid, $3, $4::jsonb, $5::jsonb
                RETURNING tx_id, global_id
                """
            let plainRetries = Mutex(0)
            let orderRetries = { Bench.metrics.total("waymark_append_order_retries_total", [("schema", store.schema)]) }
            let retriesBefore = orderRetries()
            let hot = try await BenchComparison.compare(
                writers: 16, count: events, eventsPerOperation: 1,
                waymark: { writer, index in
                    let batch = [EventData(type: "MilestoneReached", data: Self.payload(writer, index), metadata: Self.metadata)]
                    try await store.append(to: "benchhot-\(index % 4)", expected: .any, events: batch)
                },
                plain: { writer, index in
                    while true {
                        do {
                            try await pool.query(
                                PostgresQuery(
                                    sql: plainHot,
                                    binds: [
                                        "benchhot-\(index % 4)", UUID.timeOrdered().lowercasedText, "MilestoneReached", Self.payload(writer, index),
                                        metadataJSON,
                                    ]))
                            return
                        } catch let error as PostgresError where error.code == SQLState.uniqueViolation {
                            plainRetries.withLock { $0 += 1 }
                        }
                    }
                })
            record("hot streams, 16 writers on 4, .any", hot, target: nil)
            let retried = orderRetries() - retriesBefore
            print(
                "  order rule: \(retried) of \(events) appends refused and run again in a new transaction (\(String(format: "%.1f", Double(retried) * 1000 / Double(events))) per 1000); plain side: \(plainRetries.withLock { $0 }) INSERTs retried after a unique violation"
            )
        }
        if wanted("read") {
            // Global reads: full passes over the event log in pages of 1000, decoded into RecordedEvent.
            let clock = ContinuousClock()
            var read = 0
            let started = clock.now
            for _ in 0..<readPasses {
                var position = GlobalPosition.start
                while true {
                    let page = try await store.readAll(after: position, limit: 1000)
                    read += page.events.count
                    position = page.nextPosition
                    if page.isEnd { break }
                }
            }
            let elapsed = clock.now - started
            let readRate = Double(read) / elapsed.seconds
            print(
                "global read".padding(toLength: 36, withPad: " ", startingAt: 0),
                String(
                    format: "waymark %9.0f ev/s  (%d events in %d passes, pages of 1000, decoded) (target ≥ 100000) %@",
                    readRate, read, readPasses, (readRate >= 100_000 ? "ok" : "BELOW TARGET") as NSString))
        }
    }
}
