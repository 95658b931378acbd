import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@Suite("Cancellation and shutdown")
struct LifecycleTests {
    static func pool(_ name: String, maxConnections: Int) throws -> PostgresPool {
        PostgresPool(
            configuration: PostgresConfiguration(url: try TestDatabase.url(), applicationName: name), maxConnections: maxConnections,
            logger: TestDatabase.quietLogger)
    }

    static func backends(named name: String) async throws -> Int {
        let (observer, _) = try await TestDatabase.freshPool(maxConnections: 1)
        defer { Task { await observer.close() } }
        return try await observer.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = \(name)")[0].decode(Int.self, at: 0)
    }

    @Test("a task cancelled while it waits for a pooled connection stops waiting with a clear error")
    func cancelWhileWaiting() async throws {
        let pool = try Self.pool("wm-wait-\(UUID().uuidString.prefix(8))", maxConnections: 1)
        defer { Task { await pool.close() } }
        try await BriefLeaseTests.whileAnotherLeaseIsOut(pool) {
            let waiting = Task { try await pool.query("SELECT 1") }
            try await eventually("the statement to wait for the pool's one connection", observing: { pool.waiting }, until: { $0 == 1 })
            waiting.cancel()
            await #expect {
                try await waiting.value
            } throws: { error in
                (error as? PostgresError)?.code == PostgresError.cancelled && "\(error)".contains("waiting for a pooled connection")
            }
            #expect(pool.waiting == 0)
        }
        #expect(try await pool.query("SELECT 2")[0].decode(Int.self, at: 0) == 2, "the pool still serves")
    }

    @Test("cancelling a task cancels its running statement on the server, and the connection is not reused")
    func cancelRunningQuery() async throws {
        let name = "wm-cancel-\(UUID().uuidString.prefix(8))"
        let pool = try Self.pool(name, maxConnections: 1)
        defer { Task { await pool.close() } }
        let clock = ContinuousClock()
        let sleeping = Task { try await pool.query("SELECT pg_sleep(120)") }
        // Cancel once the server runs the statement (connecting can take a while on a busy machine).
        let (observer, _) = try await TestDatabase.freshPool(maxConnections: 1)
        defer { Task { await observer.close() } }
        try await eventually("the pg_sleep(120) statement to run on the server", timeout: .seconds(20)) {
            try await observer.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(name) AND state = 'active' AND query LIKE '%pg_sleep(120)%'"
            )[0].decode(Int.self, at: 0) == 1
        }
        // Timed from the statement running, not from its connecting (slow on a busy machine).
        let started = clock.now
        sleeping.cancel()
        await #expect {
            try await sleeping.value
        } throws: { error in
            (error as? PostgresError)?.code == PostgresError.cancelled && "\(error)".contains("server cancelled it")
        }
        #expect(clock.now - started < .seconds(60), "the statement stopped long before its 120 s")
        #expect(try await pool.query("SELECT 3")[0].decode(Int.self, at: 0) == 3)
        try await eventually(
            "the cancelled connection closed, one new one serving", timeout: .seconds(5), observing: { try await Self.backends(named: name) },
            until: { $0 == 1 })
    }

    @Test("abort drops a connection at once: a statement waiting for its reply fails without waiting for the server")
    func abortDrops() async throws {
        let name = "wm-abort-\(UUID().uuidString.prefix(8))"
        let connection = try await PostgresConnection.connect(PostgresConfiguration(url: try TestDatabase.url(), applicationName: name))
        let (observer, _) = try await TestDatabase.freshPool(maxConnections: 1)
        defer { Task { await observer.close() } }
        let sleeping = Task { try await connection.query("SELECT pg_sleep(120)") }
        try await eventually("the pg_sleep(120) statement to run on the server", timeout: .seconds(20)) {
            try await observer.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(name) AND state = 'active' AND query LIKE '%pg_sleep(120)%'"
            )[0].decode(Int.self, at: 0) == 1
        }
        let clock = ContinuousClock()
        let started = clock.now
        connection.abort()
        await #expect(throws: PostgresError.self) { try await sleeping.value }
        // Far below the 120 s a server-side end would take, with room for a loaded CI machine
        // (10.7 s seen there once).
        #expect(clock.now - started < .seconds(60), "the statement failed long before the server's 120 s")
        // The server notices a client gone only when it next talks to it: end the sleep.
        try await observer.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \(name)")
    }

    @Test("close waits for leased connections to come back, then closes every one")
    func closeDrains() async throws {
        let name = "wm-drain-\(UUID().uuidString.prefix(8))"
        let pool = try Self.pool(name, maxConnections: 3)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { try await pool.query("SELECT pg_sleep(0.05)") } }
            try await group.waitForAll()
        }
        let leased = AsyncStream<Void>.makeStream()
        let returned = Locked(false)
        let user = Task {
            try await pool.withConnection { connection in
                leased.continuation.yield()
                try await connection.query("SELECT pg_sleep(0.4)")
                returned.withLock { $0 = true }
            }
        }
        var isLeased = leased.stream.makeAsyncIterator()
        await isLeased.next()
        await pool.close()
        #expect(returned.value, "close returned only after the leased connection came back")
        try await user.value
        // A server process ends a moment after its client hung up: under load, not at once.
        try await eventually(
            "try await Self.backends(named: name) == 0", timeout: .seconds(10), observing: { try await Self.backends(named: name) }, until: { $0 == 0 })
        await #expect {
            try await pool.query("SELECT 1")
        } throws: { ($0 as? PostgresError)?.code == PostgresError.closed }
    }
}
