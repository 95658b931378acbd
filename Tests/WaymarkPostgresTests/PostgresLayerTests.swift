import Foundation
import Synchronization
import Testing
import WaymarkPostgres
import WaymarkTesting

@Suite("PostgreSQL layer")
struct PostgresLayerTests {
    @Test("binds round-trip every supported type, and a hostile string stays a value")
    func bindsRoundTrip() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let hostile = "x'); DROP TABLE t; --\"\\ \u{00e9}\u{1F600}"
        let id = UUID()
        let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
        let blob = Data([0, 1, 2, 254, 255])
        let row = try await pool.query(
            "SELECT \(hostile)::text, \(Int64.max)::int8, \(Int32(-42))::int4, \(true)::bool, \(3.25)::float8, \(id)::uuid, \(date)::timestamptz, \(blob)::bytea, \(String?.none)::text, \(Int?.none)::int8"
        )[0]
        let (text, big, small, flag, double, uuid, timestamp, bytes, nullText, nullInt) = try row.decode(
            String.self, Int64.self, Int32.self, Bool.self, Double.self, UUID.self, Date.self, Data.self, String?.self, Int?.self)
        #expect(text == hostile)
        #expect(big == Int64.max)
        #expect(small == -42)
        #expect(flag)
        #expect(double == 3.25)
        #expect(uuid == id)
        #expect(abs(timestamp.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_002)
        #expect(bytes == blob)
        #expect(nullText == nil)
        #expect(nullInt == nil)
        #expect(try row.decode(String.self, column: "text") == hostile)
        // Every byte value comes back, and text that is not hex-format bytea is refused.
        let everyByte = Data((0...255).map { UInt8($0) })
        #expect(try await pool.query("SELECT \(everyByte)::bytea")[0].decode(Data.self, at: 0) == everyByte)
        for bad in [#"\x0g"#, #"\xG0"#, #"\x0"#, "00"] {
            let text = try await pool.query("SELECT \(bad)::text")[0]
            #expect(throws: PostgresError.self, "\(bad)") { try text.decode(Data.self, at: 0) }
        }
    }

    @Test("UUIDs travel in PostgreSQL's text form both ways, and malformed ones are refused")
    func uuidText() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let ids =
            (0..<64).map { _ in UUID() } + [
                UUID(uuidString: "00000000-0000-0000-0000-000000000000")!, UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")!,
            ]
        for id in ids {
            #expect(id.lowercasedText == id.uuidString.lowercased())
            let (asText, back) = try await pool.query("SELECT \(id)::uuid::text, \(id)::uuid")[0].decode(String.self, UUID.self)
            #expect(asText == id.lowercasedText)
            #expect(back == id)
        }
        func parse(_ text: String) -> UUID? {
            Array(text.utf8).withUnsafeBufferPointer { UUID(postgresText: $0) }
        }
        #expect(parse("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11") == UUID(uuidString: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))
        // Bytes just outside the hex digits' ranges, and one not ASCII (two bytes, so still 36).
        let outside = ["G", "@", "`", ":", "/", "{"].map { "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a" + $0 + "1" } + ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a\u{e1}"]
        for bad in [
            "", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111", "a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11",
            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc999c0b-4ef8-bb6d-6bb9bd380a11-",
        ] + outside {
            #expect(parse(bad) == nil, "\(bad)")
        }
        await #expect(throws: PostgresError.self) {
            try await pool.query("SELECT 'not-a-uuid'::text")[0].decode(UUID.self, at: 0)
        }
    }

    @Test("dates before 1970 and far ahead survive a round trip")
    func dateEdges() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        // 951,782,400 is 2000-02-29.
        for seconds in [-86_400.5, 0, 951_782_400, 4_102_444_800.25] {
            let date = Date(timeIntervalSince1970: seconds)
            let row = try await pool.query("SELECT \(date)::timestamptz, extract(epoch FROM \(date)::timestamptz)::float8")[0]
            #expect(try row.decode(Date.self, at: 0).timeIntervalSince1970 == seconds)
            #expect(try row.decode(Double.self, at: 1) == seconds)
        }
    }

    @Test("a bind with a NUL character is refused, not truncated")
    func nulBind() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        do {
            try await pool.query("SELECT \("before\u{0}after")::text")
            Issue.record("a NUL in a bind must be refused")
        } catch let error as PostgresError {
            #expect(error.code == PostgresError.invalidArgument)
            #expect(error.message.contains("$1"))
        }
    }

    @Test("arrays escape quotes, commas, braces, backslashes and NULL")
    func arrays() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let values: [String?] = ["a,b", "{c}", "quote\"d", "back\\slash", nil, "NULL", ""]
        let rows = try await pool.query("SELECT x, x IS NULL FROM unnest(\(PostgresArray(values))::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n")
        #expect(try rows.map { try $0.decode(String?.self, at: 0) } == values)
    }

    @Test("a NULL into a non-optional and a bad column are clear decoding errors")
    func decodingErrors() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let row = try await pool.query("SELECT NULL::int8 AS n, 'abc'::text AS t")[0]
        #expect(throws: PostgresError.self) { try row.decode(Int64.self, at: 0) }
        do {
            _ = try row.decode(Int64.self, column: "t")
            Issue.record("decoding text as an integer should fail")
        } catch let error as PostgresError {
            #expect(error.code == PostgresError.decodingFailure)
            #expect(error.message.contains("\"t\""))
        }
    }

    @Test("server errors carry SQLSTATE, message and constraint")
    func serverErrors() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        try await pool.query("CREATE TABLE items (id int PRIMARY KEY)")
        try await pool.query("INSERT INTO items VALUES (\(1))")
        do {
            try await pool.query("INSERT INTO items VALUES (\(1))")
            Issue.record("duplicate insert should fail")
        } catch let error as PostgresError {
            #expect(error.code == "23505")
            #expect(error.constraint == "items_pkey")
            #expect(error.message.contains("duplicate key"))
        }
        do {
            try await pool.query("SELEC 1")
            Issue.record("syntax error should fail")
        } catch let error as PostgresError {
            #expect(error.code == "42601")
        }
        // The connection is still usable afterwards.
        #expect(try await pool.query("SELECT count(*) FROM items")[0].decode(Int.self, at: 0) == 1)
    }

    @Test("transactions commit, roll back, and refuse to pretend a failed one committed")
    func transactions() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        try await pool.query("CREATE TABLE items (id int PRIMARY KEY)")
        try await pool.withTransaction { try await $0.query("INSERT INTO items VALUES (1)") }
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await pool.withTransaction { connection in
                try await connection.query("INSERT INTO items VALUES (2)")
                throw Boom()
            }
        }
        do {
            try await pool.withTransaction { connection in
                try await connection.query("INSERT INTO items VALUES (3)")
                _ = try? await connection.query("INSERT INTO items VALUES (1)")  // fails, error swallowed
            }
            Issue.record("commit of an aborted transaction should throw")
        } catch let error as PostgresError {
            #expect(error.code == "25P02")
        }
        let ids = try await pool.query("SELECT id FROM items ORDER BY id").map { try $0.decode(Int.self, at: 0) }
        #expect(ids == [1])
    }

    @Test("the pool bounds connections and serves many more tasks than it has connections")
    func poolBounds() async throws {
        let (pool, schema) = try await TestDatabase.freshPool(maxConnections: 3)
        defer { Task { await pool.close() } }
        let peak = Locked((current: 0, peak: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        peak.withLock {
                            $0.current += 1
                            $0.peak = max($0.peak, $0.current)
                        }
                        try await connection.query("SELECT pg_sleep(0.005)")
                        peak.withLock { $0.current -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(peak.withLock { $0.peak } <= 3)
        let backends = try await pool.query(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'waymark' AND query LIKE '%' || \(schema) || '%'")
        #expect(try backends[0].decode(Int.self, at: 0) <= 3)
    }

    @Test("blocking calls run on the pool's own threads, not Swift's cooperative pool")
    func blockingCallsAreOffTheCooperativePool() async throws {
        let (pool, _) = try await TestDatabase.freshPool(maxConnections: 8)
        defer { Task { await pool.close() } }
        // Warm up all 8 connections.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await pool.query("SELECT pg_sleep(0.05)") } }
            try await group.waitForAll()
        }
        // Eight statements that wait on a lock the watcher holds: on a 2-core cooperative pool at
        // most two would be waiting in the server at any moment (the others never sent); on
        // dedicated threads all eight are. No time bound: however loaded the machine, they stay
        // until the watcher lets them go.
        let key = Int64.random(in: 1...Int64.max)
        let marker = "pg_advisory_xact_lock(\(key)) /* \(UUID()) */"
        let watcher = try await PostgresConnection.connect(pool.configuration)
        defer { Task { await watcher.close() } }
        _ = try await watcher.query("SELECT pg_advisory_lock(\(key))")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await pool.query(PostgresQuery(sql: "SELECT \(marker)")) } }
            try await eventually("the eight statements to wait in the server at the same time", timeout: .seconds(60)) {
                let running = try await watcher.query(
                    "SELECT count(*)::int8 FROM pg_stat_activity WHERE state = 'active' AND query = \("SELECT " + marker)")
                return try running[0].decode(Int64.self, at: 0) == 8
            }
            _ = try await watcher.query("SELECT pg_advisory_unlock(\(key))")
            try await group.waitForAll()
        }
    }

    @Test("COPY FROM STDIN stores tabs, newlines, backslashes and NULLs intact")
    func copyIn() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        try await pool.query("CREATE TABLE lines (n int, body text)")
        let rows: [[String?]] = (1...2_000).map { ["\($0)", $0 % 7 == 0 ? nil : "line\t\($0)\nwith \\ and \r"] }
        let stored = try await pool.withConnection { try await $0.copyIn("COPY lines (n, body) FROM STDIN", rows: rows) }
        #expect(stored == 2_000)
        let back = try await pool.query("SELECT n, body FROM lines ORDER BY n")
        #expect(back.count == 2_000)
        for (index, row) in back.enumerated() {
            #expect(try row.decode(String?.self, at: 1) == rows[index][1])
        }
        do {
            _ = try await pool.withConnection { try await $0.copyIn("COPY lines (n, body) FROM STDIN", rows: [["not a number", "x"]]) }
            Issue.record("bad COPY data should fail")
        } catch let error as PostgresError {
            #expect(error.code == "22P02")
        }
        #expect(try await pool.query("SELECT count(*) FROM lines")[0].decode(Int.self, at: 0) == 2_000)
    }

    @Test("LISTEN/NOTIFY delivers notifications to a listener")
    func listenNotify() async throws {
        let (pool, schema) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let channel = "ch_" + schema
        let received = Locked<[String]>([])
        let (events, continuation) = AsyncStream<PostgresListenerEvent>.makeStream()
        let listener = PostgresListener(configuration: pool.configuration, channels: [channel], logger: TestDatabase.quietLogger) { event in
            if case .notification(_, let payload) = event { received.withLock { $0.append(payload) } }
            continuation.yield(event)
        }
        listener.start()
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next() == .listening)
        try await pool.withConnection { try await $0.notify(channel: channel, payload: "first") }
        try await pool.withTransaction { connection in try await connection.notify(channel: channel, payload: "second") }
        #expect(await iterator.next() == .notification(channel: channel, payload: "first"))
        #expect(await iterator.next() == .notification(channel: channel, payload: "second"))
        await listener.stop()
        #expect(received.withLock { $0 } == ["first", "second"])
    }

    @Test("an unreachable server is a clear connection error")
    func connectionFailure() async throws {
        let pool = PostgresPool(
            configuration: PostgresConfiguration(url: "postgresql://nobody:secret@127.0.0.1:1/none", connectTimeoutSeconds: 2), maxConnections: 1,
            logger: TestDatabase.quietLogger)
        defer { Task { await pool.close() } }
        do {
            try await pool.query("SELECT 1")
            Issue.record("connecting to port 1 should fail")
        } catch let error as PostgresError {
            #expect(error.code == PostgresError.connectionFailure)
            #expect(error.message.contains("127.0.0.1"))
            #expect(!error.message.contains("secret"))
        }
        // The failed slot is returned: a second try fails the same way instead of hanging.
        await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
    }
}
