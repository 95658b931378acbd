import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

/// The rules every row of the log meets, whoever writes it: a SQL client that inserts by hand is
/// refused as the store's own append would be, with the rule named.
@Suite("The log's row checks", .scaledTimeLimit(minutes: 2))
struct RowCheckTests {
    @Test(
        "a row that breaks a rule is refused with check_violation naming the rule, and nothing is stored",
        arguments: [
            ("'probe-1'", "0", "'Probe'", "'{}'", "events_stream_version_check"),
            ("''", "1", "'Probe'", "'{}'", "events_stream_name_check"),
            ("'probe 1'", "1", "'Probe'", "'{}'", "events_stream_name_check"),
            ("'-probe'", "1", "'Probe'", "'{}'", "events_stream_name_check"),
            ("repeat('p', 201)", "1", "'Probe'", "'{}'", "events_stream_name_check"),
            ("'probe-1'", "1", "E'Pro\\tbe'", "'{}'", "events_event_type_check"),
            ("'probe-1'", "1", "''", "'{}'", "events_event_type_check"),
            ("'probe-1'", "1", "'Probe'", "'[]'", "events_metadata_check"),
            ("'probe-1'", "1", "'Probe'", #"'{"occurred_at": "next tuesday"}'"#, "events_occurred_at_check"),
            ("'probe-1'", "1", "'Probe'", #"'{"occurred_at": 1763712000}'"#, "events_occurred_at_check"),
        ])
    func refused(stream: String, version: String, type: String, metadata: String, rule: String) async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let insert =
            "INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata) VALUES (\(stream), \(version), gen_random_uuid(), \(type), '{}', \(metadata)::jsonb)"
        do {
            try await store.query(PostgresQuery(sql: insert, binds: []))
            Issue.record("the log took a row that breaks \(rule)")
        } catch let error as PostgresError {
            #expect(error.code == SQLState.checkViolation, "\(error)")
            #expect(error.constraint == rule && error.message.contains(rule), "\(error)")
        }
        let count = try await store.query("SELECT count(*) FROM events")[0].decode(Int.self, at: 0)
        #expect(count == 0)
    }

    @Test("a row that meets every rule is stored, at the largest sizes the rules allow")
    func accepted() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.query(
            """
            INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
            VALUES (repeat('p', 200), 1, gen_random_uuid(), repeat('T', 200), '{}', '{"occurred_at": "2026-11-21T10:00:00+02:00"}'),
                   ('probe-1', 1, gen_random_uuid(), 'Probe', '{}', '{}')
            """)
        #expect(try await store.query("SELECT count(*) FROM events")[0].decode(Int.self, at: 0) == 2)
    }

    /// PostgreSQL prepares a table's CHECK expressions again for every statement that writes it, so
    /// each one added to the log costs every append; the rules live in one function instead.
    @Test("the log's rows are checked by one call of event_row_holds and no other CHECK expression")
    func oneCheck() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let checks = try await Self.checks(store.pool)
        #expect(checks.count == 1 && checks.first?.name == "events_row_check", "\(checks)")
        #expect(checks.first?.definition.contains("event_row_holds(stream_name, stream_version, event_type, metadata)") == true, "\(checks)")
    }

    /// The check's function is not pinned to a search_path (each call would save and restore it):
    /// it names every operator and function with its schema instead, so a session whose path puts
    /// look-alikes first cannot make it pass a bad row.
    @Test("a session whose search_path puts a look-alike ~ and length before pg_catalog cannot slip a bad row past the check")
    func searchPathCannotStandIn() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let hostile = TestDatabase.uniqueSchemaName("hostile")
        try await store.query("CREATE SCHEMA \(identifier: hostile)")
        try await store.query("CREATE FUNCTION \(identifier: hostile).never(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT false'")
        try await store.query("CREATE OPERATOR \(identifier: hostile).~ (LEFTARG = text, RIGHTARG = text, FUNCTION = \(identifier: hostile).never)")
        try await store.query("CREATE FUNCTION \(identifier: hostile).length(text) RETURNS integer LANGUAGE sql AS 'SELECT 5'")
        let session = try await PostgresConnection.connect(PostgresConfiguration(url: try TestDatabase.url()))
        defer { Task { await session.close() } }
        try await session.query(PostgresQuery(sql: "SET search_path = \(hostile), pg_catalog, \(store.schema)", binds: []))
        for (stream, type) in [("probe 1", "Probe"), (String(repeating: "p", count: 201), "Probe"), ("probe-1", "Pro be")] {
            do {
                try await session.query(
                    """
                    INSERT INTO events (stream_name, stream_version, event_id, event_type, data, metadata)
                    VALUES (\(stream), 1, gen_random_uuid(), \(type), '{}', '{}')
                    """)
                Issue.record("a look-alike let \(stream) / \(type) through")
            } catch let error as PostgresError {
                #expect(error.code == SQLState.checkViolation, "\(error)")
            }
        }
        try await store.query("DROP SCHEMA \(identifier: hostile) CASCADE")
        #expect(try await store.query("SELECT count(*) FROM events")[0].decode(Int.self, at: 0) == 0)
    }

    @Test("migration 0010 behind a reader of the log gives up at its lock timeout, changing nothing, and goes through once the reader is done")
    func migrationGivesUpBehindAReader() async throws {
        let (pool, schema) = try await TestDatabase.freshPool(forEventStore: true)
        defer { Task { await pool.close() } }
        let all = try EventStore.migrations()
        try await Migrator(migrations: all.filter { $0.version < 10 }, schema: schema, logger: TestDatabase.quietLogger).migrate(pool)
        let reader = try await PostgresConnection.connect(PostgresConfiguration(url: try TestDatabase.url(), searchPath: [schema]))
        defer { Task { await reader.close() } }
        try await reader.query("BEGIN")
        try await reader.query("SELECT count(*) FROM events")
        // Without its lock timeout the migration would wait for the reader for ever: the reader lets
        // go after a minute, and the migration then goes through, which fails the test, not hangs it.
        let backstop = Task {
            try await Task.sleep(for: TestTime.scaled(.seconds(60)))
            try await reader.query("COMMIT")
        }
        do {
            try await Migrator(migrations: all, schema: schema, logger: TestDatabase.quietLogger).migrate(pool)
            Issue.record("0010 took the log's lock while a reader held it")
        } catch let error as PostgresError {
            #expect(error.code == "55P03", "\(error)")
        }
        backstop.cancel()
        _ = await backstop.result
        #expect(try await Self.checks(pool).count == 5)
        try await reader.query("COMMIT")
        try await Migrator(migrations: all, schema: schema, logger: TestDatabase.quietLogger).migrate(pool)
        #expect(try await Self.checks(pool).map(\.name) == ["events_row_check"])
    }

    /// The CHECK constraints of the events table in the pool's schema (its search path), by name.
    static func checks(_ pool: PostgresPool) async throws -> [(name: String, definition: String)] {
        try await pool.query(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'events'::regclass AND contype = 'c' ORDER BY 1"
        ).map { try $0.decode(String.self, String.self) }
    }
}
