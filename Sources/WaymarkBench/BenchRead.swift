import ArgumentParser
import Foundation
import WaymarkEventStore
import WaymarkPostgres
import WaymarkRuntime

/// Reads pages of the global log and of one category at different depths of a large log, through
/// the event store, in the same run: a category page must cost the same at any depth, as a global
/// page does.
struct BenchRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Global and category pages at the start, middle and head of a log of millions of events.")

    @OptionGroup var database: RuntimeOptions

    @Option(parsing: .unconditional, help: "Events in the log (written in SQL before measuring).")
    var events: Int = 5_000_000

    @Option(parsing: .unconditional, help: "Streams the events are spread over, round-robin, in 5 categories.")
    var streams: Int = 200_000

    @Option(parsing: .unconditional, help: "Pages of 1000 events read at each place.")
    var pages: Int = 40

    @Option(parsing: .unconditional, help: "Times each place is read; the best and worst are printed.")
    var repeats: Int = 3

    func validate() throws {
        try requireAtLeast(100_000, events, "--events")
        try requireAtLeast(5, streams, "--streams")
        try requireAtLeast(1, pages, "--pages")
        try requireAtLeast(1, repeats, "--repeats")
        guard events / 5 >= 2 * pages * 1000 else { throw ValidationError("a category must hold at least 2 × --pages × 1000 events") }
    }

    func run() async throws {
        try await withBenchStore(database, maxConnections: 2) { store in try await runBench(store) }
    }

    static let categories = ["journey", "customer", "consent", "order", "audit"]

    func runBench(_ store: EventStore) async throws {
        print("waymark bench read")
        try await printServer(store)
        let clock = ContinuousClock()
        let loadStarted = clock.now
        try await load(store)
        print(
            String(
                format: "  log: %d events in transactions of 10000, %d streams round-robin over 5 categories, written in %.0f s and analysed",
                events, streams, (clock.now - loadStarted).seconds))
        print("  each place: \(pages) consecutive pages of 1000, read and decoded through the store, \(repeats) times after one warm-up pass\n")

        let category = Self.categories[0]
        let inCategory = events / 5
        let pageEvents = pages * 1000
        // Where each measured run of pages starts: the start, the middle and the head (so that the
        // last page reaches the newest event).
        let globalHead = try await position(store, category: nil, offsetFromEnd: pageEvents)
        let categoryMiddle = try await position(store, category: category, offsetFromEnd: inCategory / 2)
        let categoryHead = try await position(store, category: category, offsetFromEnd: pageEvents)
        let places: [(String, String?, GlobalPosition)] = [
            ("global page, start", nil, .start),
            ("global page, head", nil, globalHead),
            ("category page, start", category, .start),
            ("category page, middle", category, categoryMiddle),
            ("category page, head", category, categoryHead),
        ]
        var rates: [String: (best: Double, worst: Double)] = [:]
        for (label, category, start) in places {
            _ = try await readPages(store, category: category, from: start)
            var measured: [Double] = []
            for _ in 0..<repeats { measured.append(try await readPages(store, category: category, from: start)) }
            rates[label] = (measured.max()!, measured.min()!)
            print(label.padding(toLength: 24, withPad: " ", startingAt: 0), String(format: "%9.0f–%.0f events/s", measured.min()!, measured.max()!))
        }
        let headRatio = rates["category page, head"]!.best / rates["global page, head"]!.best
        let depthRatio = rates["category page, head"]!.best / rates["category page, start"]!.best
        print(String(format: "\ncategory head / global head: %.2f (target ≥ 0.8) %@", headRatio, (headRatio >= 0.8 ? "ok" : "BELOW TARGET") as NSString))
        print(
            String(
                format: "category head / category start: %.2f (target ≥ 0.8: the same cost at any depth) %@", depthRatio,
                (depthRatio >= 0.8 ? "ok" : "BELOW TARGET") as NSString))
    }

    /// Writes the log straight in SQL: events of 5 categories round-robin over the streams, with
    /// time-ordered ids, 10,000 per transaction, then analyses the table.
    func load(_ store: EventStore) async throws {
        try await store.pool.withConnection { connection in
            try await connection.runScript(
                """
                CREATE PROCEDURE bench_load(p_total int, p_streams int) LANGUAGE plpgsql AS $$
                DECLARE
                    i int := 0;
                    categories text[] := ARRAY['journey', 'customer', 'consent', 'order', 'audit'];
                BEGIN
                    WHILE i < p_total LOOP
                        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
                        SELECT categories[1 + n % p_streams % 5] || '-' || n % p_streams, n / p_streams + 1,
                               ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'MilestoneReached',
                               jsonb_build_object('journeyId', 'j-' || n % p_streams, 'milestone', 'kickoff-held', 'department', 'onboarding'),
                               '{"actor": "bench", "source_system": "bench"}'
                        FROM generate_series(i, least(i + 10000, p_total) - 1) AS n;
                        COMMIT;
                        i := i + 10000;
                    END LOOP;
                END $$
                """)
            try await connection.runScript("CALL bench_load(\(events), \(streams))")
            try await connection.runScript("DROP PROCEDURE bench_load")
            try await connection.runScript("VACUUM ANALYZE events")
        }
    }

    /// The position `offsetFromEnd` events before the end of the log or of `category`.
    func position(_ store: EventStore, category: String?, offsetFromEnd: Int) async throws -> GlobalPosition {
        let rows: PostgresRows
        if let category {
            rows = try await store.pool.query(
                "SELECT tx_id, global_id FROM events WHERE category = \(category) ORDER BY category DESC, tx_id DESC, global_id DESC OFFSET \(offsetFromEnd) LIMIT 1"
            )
        } else {
            rows = try await store.pool.query("SELECT tx_id, global_id FROM events ORDER BY tx_id DESC, global_id DESC OFFSET \(offsetFromEnd) LIMIT 1")
        }
        return try GlobalPosition(rows[0])
    }

    /// Reads `pages` pages of 1000 from `start`; returns events per second.
    func readPages(_ store: EventStore, category: String?, from start: GlobalPosition) async throws -> Double {
        let clock = ContinuousClock()
        var position = start
        var read = 0
        let started = clock.now
        for _ in 0..<pages {
            let page =
                if let category {
                    try await store.readCategory(category, after: position, limit: 1000)
                } else {
                    try await store.readAll(after: position, limit: 1000)
                }
            read += page.events.count
            position = page.nextPosition
            if page.isEnd { break }
        }
        return Double(read) / (clock.now - started).seconds
    }
}
