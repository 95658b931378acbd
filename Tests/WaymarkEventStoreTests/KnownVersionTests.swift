import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkEventStore

/// `.exact` appends to streams whose version this process has seen skip the look-up of the stream's
/// version. These tests check that the shortcut never lets a stale or foreign figure through: every
/// conflict still conflicts, nothing is stored when it does, and versions never gap.
@Suite("Known stream versions")
struct KnownVersionTests {
    @Test("a stream another writer moved on still conflicts, and a read brings the version back")
    func otherWriterMovedOn() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        // A second instance on the same tables, with a memory of its own.
        let other = try TestDatabase.anotherProcess(sharing: store)
        defer { Task { await other.close() } }

        try await store.append(to: "journey-1", expected: .noStream, events: [event(), event(), event()])
        try await other.append(to: "journey-1", expected: .exact(3), events: [event(), event()])
        #expect(other.versions.hits == 0)  // `other` had never seen the stream: it looked the version up

        let hitsBefore = store.versions.hits
        await #expect(throws: WrongExpectedVersionError(streamName: "journey-1", expected: .exact(3), actualVersion: 5)) {
            try await store.append(to: "journey-1", expected: .exact(3), events: [event()])
        }
        #expect(store.versions.hits == hitsBefore + 1)  // the known version was used, and the index refused it
        await #expect(throws: WrongExpectedVersionError(streamName: "journey-1", expected: .noStream, actualVersion: 5)) {
            try await store.append(to: "journey-1", expected: .noStream, events: [event()])
        }
        #expect(try await eventCount(store) == 5)

        // The usual loop of a command handler: read, decide, append with the version read.
        let read = try await store.readStream("journey-1", direction: .backward, limit: 1)
        let version = try #require(read.events.first?.streamVersion)
        #expect(version == 5)
        let appended = try await store.append(to: "journey-1", expected: .exact(version), events: [event(), event()])
        #expect(appended.events.map(\.streamVersion) == [6, 7])
        #expect(store.versions.hits == hitsBefore + 2)
        #expect(try await store.readStream("journey-1").events.map(\.streamVersion) == Array(1...7))

        // A retry of a stored batch through the shortcut is still an idempotent replay.
        let batch = [event("A"), event("B")]
        let first = try await store.append(to: "journey-2", expected: .noStream, events: batch)
        let retry = try await store.append(to: "journey-2", expected: .noStream, events: batch)
        #expect(retry.replayed && retry.events == first.events)
        #expect(try await store.streamVersion("journey-2") == 2)
    }

    @Test("an .any append takes the remembered version as a guess; a stream where that lost is looked up from then on")
    func anyGuesses() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let other = try TestDatabase.anotherProcess(sharing: store)
        defer { Task { await other.close() } }

        try await store.append(to: "service-1", events: [event(), event()])  // looked up: a new stream
        var hits = store.versions.hits
        #expect(try await store.append(to: "service-1", expected: .any, events: [event()]).streamVersion == 3)
        #expect(try await store.append(to: "service-1", expected: .streamExists, events: [event(), event()]).streamVersion == 5)
        #expect(store.versions.hits == hits + 2)
        #expect(!store.versions.isContended("service-1"))

        // Another instance moves the stream on: the guess (version 6) is refused, the append lands
        // after the other writer's events all the same, and the stream counts as contended.
        try await other.append(to: "service-1", expected: .any, events: [event(), event(), event()])
        #expect(try await store.append(to: "service-1", expected: .any, events: [event()]).streamVersion == 9)
        #expect(store.versions.isContended("service-1"))
        hits = store.versions.hits
        #expect(try await store.append(to: "service-1", expected: .any, events: [event()]).streamVersion == 10)
        #expect(store.versions.hits == hits)  // looked up, not guessed
        // `.exact` still uses the bound, which the fallback kept up to date.
        #expect(try await store.append(to: "service-1", expected: .exact(10), events: [event()]).streamVersion == 11)
        #expect(store.versions.hits == hits + 1)
        await #expect(throws: WrongExpectedVersionError(streamName: "service-2", expected: .streamExists, actualVersion: 0)) {
            try await store.append(to: "service-2", expected: .streamExists, events: [event()])
        }
        #expect(try await store.readStream("service-1").events.map(\.streamVersion) == Array(1...11))
    }

    @Test("a remembered version from another server or table is refused by the server and forgotten")
    func foreignOriginRefused() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "order-1", expected: .noStream, events: [event(), event()])
        let (startTime, tableOID) = try await store.pool.query(
            "SELECT pg_postmaster_start_time()::text, 'events'::regclass::oid::int8")[0].decode(String.self, Int64.self)
        let foreign: [StreamVersionCache.Origin] = [
            .init(serverStartTime: "2001-02-03 04:05:06.789+00", tableOID: tableOID),  // another server incarnation
            .init(serverStartTime: startTime, tableOID: tableOID + 1),  // another events table
        ]
        for origin in foreign {
            // A figure ahead of the stream, as after a failover to a server that missed commits.
            store.versions.record("order-1", version: 5, origin: origin)
            await #expect(throws: WrongExpectedVersionError(streamName: "order-1", expected: .exact(5), actualVersion: 2)) {
                try await store.append(to: "order-1", expected: .exact(5), events: [event()])
            }
            #expect(store.versions.count == 0)
            #expect(try await eventCount(store) == 2)
        }
        // Learned again from the database, the version is used.
        #expect(try await store.streamVersion("order-1") == 2)
        #expect(try await store.append(to: "order-1", expected: .exact(2), events: [event()]).streamVersion == 3)
        #expect(try await store.readStream("order-1").events.map(\.streamVersion) == [1, 2, 3])
    }

    @Test("a dropped and re-created schema does not inherit remembered versions")
    func recreatedSchema() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "customer-9", expected: .noStream, events: [event(), event(), event(), event()])
        #expect(store.versions.count == 1)

        try await store.pool.query("DROP SCHEMA \(identifier: store.schema) CASCADE")
        try await store.pool.query("CREATE SCHEMA \(identifier: store.schema)")
        try await Migrator(migrations: try EventStore.migrations(), schema: store.schema, logger: TestDatabase.quietLogger)
            .migrate(store.pool)

        await #expect(throws: WrongExpectedVersionError(streamName: "customer-9", expected: .exact(4), actualVersion: 0)) {
            try await store.append(to: "customer-9", expected: .exact(4), events: [event()])
        }
        #expect(try await eventCount(store) == 0)
        #expect(try await store.append(to: "customer-9", expected: .noStream, events: [event()]).streamVersion == 1)
    }

    /// The failover the origin check exists for: the server at the store's address is replaced by
    /// another that lacks the stream's last events (a replica that had not received them). The
    /// store remembers the stream at 3; the new server holds 1 event. An `.exact(3)` append must be
    /// refused, not written as version 4 after a gap.
    @Test("after a failover to a server that missed commits, remembered versions are not trusted")
    func failoverToLaggingServer() async throws {
        var logger = TestDatabase.quietLogger
        logger.logLevel = .error
        let primary = try LocalPostgresCluster.startTemporary(prefix: "waymark-failover-a", logger: logger)
        var replacement: LocalPostgresCluster?
        defer {
            primary.stop(removeData: true)
            replacement?.stop(removeData: true)
        }
        let migrations = try EventStore.migrations()
        let store = try EventStore.connect(url: primary.url, schema: "waymark", maxConnections: 2, logger: logger)
        defer { Task { await store.close() } }
        try await store.pool.query("CREATE SCHEMA waymark")
        try await Migrator(migrations: migrations, schema: "waymark", logger: logger).migrate(store.pool)
        let batch = [event("JourneyStarted"), event("MilestoneReached"), event("MilestoneReached")]
        try await store.append(to: "journey-7", expected: .noStream, events: batch)
        #expect(store.versions.count == 1)

        // The new server: same address, same schema, only the stream's first event.
        primary.stop(removeData: true)
        let standIn = try LocalPostgresCluster.startTemporary(prefix: "waymark-failover-b", port: primary.port, logger: logger)
        replacement = standIn
        let seed = try EventStore.connect(url: standIn.url, schema: "waymark", maxConnections: 1, logger: logger)
        try await seed.pool.query("CREATE SCHEMA waymark")
        try await Migrator(migrations: migrations, schema: "waymark", logger: logger).migrate(seed.pool)
        try await seed.append(to: "journey-7", expected: .noStream, events: [batch[0]])
        await seed.close()

        // The store's pooled connections died with the old server: appends fail with a connection
        // error until the pool has replaced them. None of them may succeed.
        var outcome: Error?
        for _ in 0..<5 {
            do {
                let result = try await store.append(to: "journey-7", expected: .exact(3), events: [event("HandedOff")])
                Issue.record("an append after a gap was stored: \(result)")
                break
            } catch let error as PostgresError where error.code == PostgresError.connectionFailure || error.isClass("08") || error.code == "57P01" {
                continue
            } catch {
                outcome = error
                break
            }
        }
        #expect(outcome as? WrongExpectedVersionError == WrongExpectedVersionError(streamName: "journey-7", expected: .exact(3), actualVersion: 1))
        #expect(try await store.readStream("journey-7").events.map(\.streamVersion) == [1])
    }

    @Test("with no memory of versions every append looks the version up, and works the same")
    func disabled() async throws {
        let base = try await TestDatabase.freshStore()
        defer { Task { await base.close() } }
        let store = try TestDatabase.anotherProcess(sharing: base, knownStreamVersions: 0)
        defer { Task { await store.close() } }
        try await store.append(to: "order-3", expected: .noStream, events: [event()])
        try await store.append(to: "order-3", expected: .exact(1), events: [event()])
        await #expect(throws: WrongExpectedVersionError(streamName: "order-3", expected: .exact(1), actualVersion: 2)) {
            try await store.append(to: "order-3", expected: .exact(1), events: [event()])
        }
        #expect(store.versions.count == 0 && store.versions.hits == 0)
        #expect(try await store.readStream("order-3").events.map(\.streamVersion) == [1, 2])
    }
}
