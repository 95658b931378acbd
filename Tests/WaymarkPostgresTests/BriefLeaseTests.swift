import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

/// `.brief` leases send statements from the caller's thread and await replies through the pool's
/// reactor. The pool does so only while another lease is out, so each test holds one.
@Suite("Brief leases")
struct BriefLeaseTests {
    /// Runs `body` while a `.session` lease is held on `pool`: brief leases then take the reactor,
    /// and with one connection every other lease waits.
    static func whileAnotherLeaseIsOut<T: Sendable>(_ pool: PostgresPool, _ body: () async throws -> T) async throws -> T {
        let holding = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await pool.withConnection { _ in
                holding.continuation.yield()
                var waiter = release.stream.makeAsyncIterator()
                await waiter.next()
            }
        }
        var held = holding.stream.makeAsyncIterator()
        await held.next()
        do {
            let value = try await body()
            release.continuation.yield()
            try await holder.value
            return value
        } catch {
            release.continuation.yield()
            try? await holder.value
            throw error
        }
    }

    /// Starts a 30 s `pg_sleep` in a brief lease on `pool` (connections named `name`) and returns
    /// once the server runs it. The first run prepares the statement the blocking way; the second is
    /// sent from the task's thread and awaited through the reactor.
    static func sleepInBriefLease(_ pool: PostgresPool, name: String, observer: PostgresPool) async throws -> Task<Void, Error> {
        let sleeping = Task {
            try await pool.withConnection(.brief) { connection in
                try await connection.query("SELECT pg_sleep(\(0.0))")
                try await connection.query("SELECT pg_sleep(\(30.0))")
            }
        }
        try await eventually("the statement to run on the server", timeout: .seconds(20)) {
            try await observer.query(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(name) AND state = 'active' AND query LIKE '%pg_sleep%'"
            )[0].decode(Int.self, at: 0) == 1
        }
        return sleeping
    }

    @Test("concurrent brief leases get their own replies, small and many-rowed, on the caller's thread")
    func concurrentReplies() async throws {
        let (pool, _) = try await TestDatabase.freshPool(maxConnections: 5)
        defer { Task { await pool.close() } }
        try await Self.whileAnotherLeaseIsOut(pool) {
            let onConnectionThread = try await pool.withConnection(.brief) { connection in
                try await connection.query("SELECT \(1)")
                try await connection.query("SELECT \(2)")
                return connection.executor.isCurrent
            }
            #expect(!onConnectionThread, "a brief lease runs where its caller runs")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for round in 0..<50 {
                            let marker = "w\(writer)-r\(round)"
                            let echoed = try await pool.query("SELECT \(marker)::text || '!'")[0].decode(String.self, at: 0)
                            #expect(echoed == marker + "!")
                            if round % 10 == 0 {
                                // Larger than a socket read: the reply arrives in several pieces.
                                let rows = try await pool.query("SELECT g, repeat('x', 100) FROM generate_series(1, \(20_000 + writer)) g")
                                #expect(rows.count == 20_000 + writer)
                                #expect(try rows[rows.count - 1].decode(Int.self, at: 0) == 20_000 + writer)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("a statement that fails in a brief lease throws its error, and the connection serves again")
    func failingStatement() async throws {
        let (pool, _) = try await TestDatabase.freshPool(maxConnections: 2)
        defer { Task { await pool.close() } }
        try await Self.whileAnotherLeaseIsOut(pool) {
            try await pool.withConnection(.brief) { connection in
                let quotient = try await connection.query("SELECT 10 / \(5)")[0].decode(Int.self, at: 0)
                #expect(quotient == 2)
                await #expect {
                    try await connection.query("SELECT 10 / \(0)")
                } throws: { ($0 as? PostgresError)?.code == "22012" }
                let after = try await connection.query("SELECT 10 / \(2)")[0].decode(Int.self, at: 0)
                #expect(after == 5)
            }
        }
    }

    @Test("cancelling a task cancels the statement whose reply the reactor awaits")
    func cancelAwaitedStatement() async throws {
        let name = "wm-brief-cancel-\(UUID().uuidString.prefix(8))"
        let pool = try LifecycleTests.pool(name, maxConnections: 2)
        defer { Task { await pool.close() } }
        let (observer, _) = try await TestDatabase.freshPool(maxConnections: 1)
        defer { Task { await observer.close() } }
        try await Self.whileAnotherLeaseIsOut(pool) {
            let sleeping = try await Self.sleepInBriefLease(pool, name: name, observer: observer)
            // Timed from the statement running (its connecting is slow on a busy machine).
            let started = ContinuousClock.now
            sleeping.cancel()
            await #expect {
                try await sleeping.value
            } throws: { error in
                (error as? PostgresError)?.code == PostgresError.cancelled && "\(error)".contains("server cancelled it")
            }
            #expect(ContinuousClock.now - started < .seconds(20), "the statement stopped long before its 30 s")
        }
        #expect(try await pool.query("SELECT 4")[0].decode(Int.self, at: 0) == 4)
    }

    @Test("a connection the server ends while its reply is awaited fails with an error instead of hanging")
    func serverEndsConnection() async throws {
        let name = "wm-brief-kill-\(UUID().uuidString.prefix(8))"
        let pool = try LifecycleTests.pool(name, maxConnections: 2)
        defer { Task { await pool.close() } }
        let (observer, _) = try await TestDatabase.freshPool(maxConnections: 1)
        defer { Task { await observer.close() } }
        try await Self.whileAnotherLeaseIsOut(pool) {
            let sleeping = try await Self.sleepInBriefLease(pool, name: name, observer: observer)
            try await observer.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \(name) AND query LIKE '%pg_sleep%'")
            let clock = ContinuousClock()
            let started = clock.now
            await #expect(throws: PostgresError.self) { try await sleeping.value }
            #expect(clock.now - started < .seconds(15))
        }
        #expect(try await pool.query("SELECT 5")[0].decode(Int.self, at: 0) == 5, "the broken connection was replaced")
    }
}
