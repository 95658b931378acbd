import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

/// Keeps the `synchronous_commit` each of its batches ran with.
struct CommitSettingProjection: Projection {
    let name = "commit_settings"
    let version = 1
    let source = SubscriptionSource.all

    func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute("CREATE TABLE \(tables.name("settings")) (setting text PRIMARY KEY)")
    }

    func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        try await transaction.execute("INSERT INTO \(tables.name("settings")) VALUES (current_setting('synchronous_commit')) ON CONFLICT DO NOTHING")
        return 0
    }

    func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [("commit_settings", "SELECT setting FROM \(tables.name("settings"))")]
    }
}

@Suite("Projection runner's commits")
struct RunnerCommitTests {
    @Test("a projection's batches commit without waiting for the disk, on sessions that otherwise wait")
    func batchesCommitAsynchronously() async throws {
        let fresh = try await TestDatabase.freshStore()
        defer { Task { await fresh.close() } }
        let store = try TestDatabase.waitingForTheDisk(sharing: fresh, maxConnections: 6)
        defer { Task { await store.close() } }
        let analytics = store.schema + "_analytics"
        let runner = try ProjectionRunner(
            store: store, projections: [CommitSettingProjection()], analyticsSchema: analytics, batchSize: 1, standbyInterval: .milliseconds(100),
            logger: TestDatabase.quietLogger)
        for index in 0..<3 {
            try await store.append(to: "journey-\(index)", events: [EventData(type: "MilestoneReached", data: #"{"n":1}"#)])
        }
        let caughtUp = try await withServices([runner]) { try await runner.waitUntilCaughtUp("commit_settings", timeout: TestTime.deadline) }
        #expect(caughtUp)
        let rows = try await store.pool.query("SELECT setting FROM \(identifier: analytics).commit_settings")
        #expect(try rows.map { try $0.decode(String.self, at: 0) } == ["off"])
        #expect(try await store.pool.query("SHOW synchronous_commit")[0].decode(String.self, at: 0) == "on")
    }
}
