import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("The store's functions in their schema")
struct FunctionSchemaTests {
    @Test("schema.append_events writes into its own schema whatever the caller's search_path, and every function of the store pins it")
    func appendEventsKeepsToItsSchema() async throws {
        let probe = try await TestDatabase.freshStore()
        let other = try await TestDatabase.freshStore()
        defer {
            Task {
                await probe.close()
                await other.close()
            }
        }
        // A session whose search_path starts with the other schema (and a temporary table named events).
        let session = try await PostgresConnection.connect(PostgresConfiguration(url: try TestDatabase.url(), searchPath: [other.schema]))
        defer { Task { await session.close() } }
        try await session.query("CREATE TEMPORARY TABLE events (x int)")
        let id = UUID()
        try await session.query(
            """
            SELECT * FROM \(identifier: probe.schema).append_events('probe-1', 'any', NULL, ARRAY[\(id)]::uuid[], ARRAY['Probe'], ARRAY['{}'::jsonb],
                ARRAY['{}'::jsonb])
            """)
        #expect(try await probe.event(withId: id)?.streamName == "probe-1")
        #expect(try await other.event(withId: id) == nil)

        let unpinned = try await probe.query(
            """
            SELECT p.proname FROM pg_proc p WHERE p.pronamespace = \(probe.schema)::regnamespace
            AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, ' || quote_ident(\(probe.schema)) || ', pg_temp']
            ORDER BY 1
            """
        ).map { try $0.decode(String.self, at: 0) }
        // expected_version_holds reads no table, and pinning it would stop PostgreSQL inlining it
        // into the append; event_row_holds reads none either and names every operator with its
        // schema, since a pinned setting is saved and restored on every call (RowCheckTests).
        #expect(unpinned == ["event_row_holds", "expected_version_holds"])
    }
}
