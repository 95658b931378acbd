import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkEventStore

/// The store's statements must cost the same at any depth of the log and must not depend on the
/// table's statistics of the moment. Checked on the plans PostgreSQL makes, by the buffers it
/// touches, never by time.
@Suite("Query plans")
struct PlanTests {
    /// Fills the events table with `total` events in transactions of `perTransaction`, over 5
    /// categories and `streams` streams, straight in SQL.
    static func load(_ store: EventStore, total: Int, perTransaction: Int, streams: Int) async throws {
        try await store.pool.withConnection { connection in
            try await connection.runScript(
                """
                CREATE PROCEDURE load_events(p_total int, p_per_tx int, p_streams int) LANGUAGE plpgsql AS $$
                DECLARE
                    i int := 0;
                    categories text[] := ARRAY['journey', 'customer', 'consent', 'order', 'audit'];
                BEGIN
                    WHILE i < p_total LOOP
                        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
                        SELECT categories[1 + s % 5] || '-' || s, (i + g) / p_streams + 1, gen_random_uuid(), 'Happened', '{"n":1}', '{}'
                        FROM generate_series(0, p_per_tx - 1) AS g, LATERAL (SELECT (i + g) % p_streams AS s) AS x;
                        COMMIT;
                        i := i + p_per_tx;
                    END LOOP;
                END $$
                """)
            // One statement per script: a script of several runs as one transaction, and the
            // procedure commits as it goes.
            try await connection.runScript("CALL load_events(\(total), \(perTransaction), \(streams))")
            try await connection.runScript("DROP PROCEDURE load_events")
            try await connection.runScript("ANALYZE events")
        }
    }

    /// Shared buffers (hit or read) that `EXPLAIN (ANALYZE, BUFFERS)` reports for one execution of
    /// the prepared statement `name` with `arguments` (SQL literals), and the plan's text.
    static func buffers(_ connection: PostgresConnection, _ name: String, _ arguments: String) async throws -> (Int, String) {
        let rows = try await connection.query(PostgresQuery(sql: "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE \(name)(\(arguments))"))
        let json = try rows[0].decode(String.self, at: 0)
        let plan = try #require((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])?.first?["Plan"] as? [String: Any])
        let hit = plan["Shared Hit Blocks"] as? Int ?? 0
        let read = plan["Shared Read Blocks"] as? Int ?? 0
        return (hit + read, json)
    }

    @Test("a category page costs the same near the category's start and deep in a log of 300,000 events, custom or generic plan")
    func categoryPagesSeek() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await Self.load(store, total: 300_000, perTransaction: 1_000, streams: 20_000)

        try await store.pool.withConnection { connection in
            // Positions 1 %, 50 % and 99 % into the 'journey' category.
            let positions = try await connection.query(
                """
                SELECT tx_id, global_id FROM (
                    SELECT tx_id, global_id, row_number() OVER (ORDER BY tx_id, global_id) AS n, count(*) OVER () AS total
                    FROM events WHERE category = 'journey') AS c
                WHERE n IN (total / 100, total / 2, total * 99 / 100) ORDER BY n
                """
            ).map { try $0.decode(String.self, Int64.self) }
            #expect(positions.count == 3)
            // A transaction left open elsewhere on the cluster (another test's) holds the readers'
            // horizon below the log's end, and a page past it then walks to the category's end: the
            // cost asked about is the one with nothing held back.
            let released = try await eventually(timeout: .seconds(120)) {
                try await connection.query("SELECT pg_snapshot_xmin(pg_current_snapshot()) > (SELECT max(tx_id) FROM events)")[0].decode(Bool.self, at: 0)
            }
            #expect(released, "another transaction held the horizon back for two minutes")
            try await connection.query(PostgresQuery(sql: "PREPARE category_page(text, xid8, int8, int8) AS \(EventStore.readCategoryPage())"))
            // The shape this replaced: an equality on the category beside the row comparison.
            try await connection.query(
                """
                PREPARE old_category_page(text, xid8, int8, int8) AS
                SELECT \(EventStore.eventColumns) FROM events
                WHERE category = $1 AND (category, tx_id, global_id) > ($1, $2::xid8, $3) AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY category, tx_id, global_id LIMIT $4
                """)
            for mode in ["force_custom_plan", "force_generic_plan"] {
                try await connection.query("SELECT set_config('plan_cache_mode', \(mode), false)")
                var costs: [Int] = []
                for (transactionId, sequence) in positions {
                    let (cost, plan) = try await Self.buffers(connection, "category_page", "'journey', '\(transactionId)', \(sequence), 100")
                    #expect(plan.contains("events_category_order"), "\(mode): \(plan)")
                    costs.append(cost)
                }
                // 100 events of one category over a log written round-robin: about one heap page
                // each, plus the index descent. The same at 1 %, 50 % and 99 %.
                #expect(costs.allSatisfy { $0 <= 2 * costs[0] + 10 }, "\(mode): buffers at 1 %, 50 %, 99 %: \(costs)")
                #expect(costs.allSatisfy { $0 < 200 }, "\(mode): \(costs)")

                // The check would catch the old shape: it steps from the category's start.
                let (deep, _) = try await Self.buffers(connection, "old_category_page", "'journey', '\(positions[2].0)', \(positions[2].1), 100")
                #expect(deep > 2 * costs[0] + 10, "\(mode): the old query read \(deep) buffers deep in the category")
            }
            try await connection.query("RESET plan_cache_mode")
        }
        // And the store reads the pages that way: a deep page holds the right events.
        let deep = try await store.readCategory("journey", after: GlobalPosition(transactionId: 0, sequence: 0), limit: 5)
        #expect(deep.events.allSatisfy { $0.category == "journey" } && deep.events.count == 5)
    }

    @Test("on an empty, analysed table the store's statements and functions plan index scans, and keep them as it grows")
    func plansIgnoreMomentaryStatistics() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.pool.query("ANALYZE events")

        // The client's statements, as generic plans on the store's session settings.
        try await store.pool.withConnection { connection in
            try await connection.query("SET plan_cache_mode = force_generic_plan")
            let statements: [(String, String, String)] = [
                ("all_page(xid8, int8, int8)", EventStore.readAllPage(), "'1', 1, 100"),
                ("category_page(text, xid8, int8, int8)", EventStore.readCategoryPage(), "'journey', '1', 1, 100"),
                ("version(text)", "SELECT \(EventStore.currentVersion)", "'journey-1'"),
                (
                    "append_one(text, text, int8, uuid, text, jsonb, jsonb)", EventStore.fastAppendOne,
                    "'journey-1', 'any', NULL, gen_random_uuid(), 'Happened', '{}', '{}'"
                ),
            ]
            for (signature, sql, arguments) in statements {
                try await connection.query(PostgresQuery(sql: "PREPARE \(signature) AS \(sql)"))
                let name = String(signature.prefix { $0 != "(" })
                let plan = try await connection.query(PostgresQuery(sql: "EXPLAIN EXECUTE \(name)(\(arguments))")).map { try $0.decode(String.self, at: 0) }
                    .joined(separator: "\n")
                #expect(!plan.contains("Seq Scan on events"), "\(name): \(plan)")
                #expect(plan.contains("Index"), "\(name): \(plan)")
            }
            // The expected-version rule is inlined into the append, not called as a function.
            let verbose = try await connection.query("EXPLAIN VERBOSE EXECUTE append_one('journey-1', 'exact', 3, gen_random_uuid(), 'Happened', '{}', '{}')")
                .map { try $0.decode(String.self, at: 0) }.joined(separator: "\n")
            #expect(!verbose.contains("expected_version_holds"), "\(verbose)")
            try await connection.query("DEALLOCATE ALL")
            try await connection.query("RESET plan_cache_mode")
        }

        // The functions' statements, as auto_explain reports them from inside the functions: a new
        // stream, a conflict, a replay and a long run of appends, enough for cached generic plans.
        let connection = try await store.pool.openDedicatedConnection()
        defer { Task { await connection.close() } }
        try await connection.runScript(
            """
            LOAD 'auto_explain';
            SET auto_explain.log_min_duration = 0;
            SET auto_explain.log_nested_statements = on;
            SET auto_explain.log_level = notice;
            SET client_min_messages = notice;
            """)
        _ = connection.takeNotices()
        func append(_ stream: String, _ expected: String, _ version: Int64?, _ id: UUID) async throws {
            try await connection.query(
                "SELECT * FROM append_events(\(stream), \(expected), \(version), ARRAY[\(id)::uuid], ARRAY['Happened'], ARRAY['{}'::jsonb], ARRAY['{}'::jsonb])"
            )
        }
        var notices: [PostgresNotice] = []
        for index in 0..<12 {
            let id = UUID()
            try await append("journey-\(index % 3)", "any", nil, id)
            try await append("journey-\(index % 3)", "any", nil, id)  // a replay
            await #expect(throws: PostgresError.self) { try await append("journey-\(index % 3)", "no_stream", nil, UUID()) }
            notices += connection.takeNotices()
            if index == 5 {
                // The table grows well past what the statistics say; the cached plans stay.
                try await store.pool.withConnection { loader in
                    try await loader.query(
                        """
                        INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
                        SELECT 'bulk-' || g, 1, gen_random_uuid(), 'Happened', '{}', '{}' FROM generate_series(1, 20000) AS g
                        """)
                }
            }
        }
        let plans = notices.map(\.message).filter { $0.contains("Query Text") || $0.contains("plan:") }
        #expect(plans.count > 50, "auto_explain reported \(plans.count) plans")
        let seqScans = plans.filter { $0.contains("Seq Scan on events") }
        #expect(seqScans.isEmpty, "\(seqScans.first ?? "")")
        #expect(plans.contains { $0.contains("events_stream_version_key") })
        #expect(plans.contains { $0.contains("events_event_id_key") })
    }
}
