import Foundation
import Testing
import WaymarkClient
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

@Suite("The analyst role cannot stall the read side")
struct AnalystLimitsTests {
    @Test("waymark_analyst can hold no advisory lock, make no temporary table, leave no transaction open for long, and still reads every view")
    func analystCannotHoldBack() async throws {
        let fixture = try await Fixture { standardProjections(catalog: $0) }
        defer { Task { await fixture.store.close() } }
        try await fixture.client.send(.start(.init(journeyId: "a-1", customerId: "c", journeyType: "renewal", tier: "standard")), to: "a-1")
        #expect(try await fixture.runUntilCaughtUp("journeys", "customers", "sla", "consent"))
        let url = try TestDatabase.url().replacingOccurrences(of: "://waymark@", with: "://waymark_analyst@")
        let analyst = try await PostgresConnection.connect(PostgresConfiguration(url: url))
        defer { Task { await analyst.close() } }

        let views = try await fixture.store.query(
            "SELECT table_name FROM information_schema.views WHERE table_schema = \(fixture.analytics) ORDER BY 1"
        ).map { try $0.decode(String.self, at: 0) }
        #expect(views.count >= 8, "\(views)")
        for view in views {
            _ = try await analyst.query(PostgresQuery(sql: "SELECT * FROM \(PostgresIdentifier.quote(fixture.analytics)).\(PostgresIdentifier.quote(view))"))
        }
        for statement in [
            "SELECT pg_advisory_lock(1)", "SELECT pg_try_advisory_lock(hashtextextended('waymark-projection:x:journeys', 0))",
            "SELECT pg_advisory_xact_lock(1, 2)", "SELECT pg_try_advisory_lock_shared(1)",
            "CREATE TEMPORARY TABLE held (x int)", "BEGIN READ WRITE; CREATE TEMPORARY TABLE held (x int)",
        ] {
            do {
                try await analyst.runScript(statement)
                Issue.record("the analyst could run: \(statement)")
            } catch let error as PostgresError {
                #expect(["42501", "25006"].contains(error.code), "\(statement): \(error)")
            }
            try? await analyst.runScript("ROLLBACK")
        }
        let settings = try await analyst.query(
            "SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout'), current_setting('default_transaction_read_only')"
        )
        #expect(try settings[0].decode(String.self, String.self, String.self) == ("10min", "2min", "on"))
    }
}
