import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@Suite("Queries with interpolated binds")
struct QueryTests {
    @Test("each interpolation is a bind, identifiers are quoted, fragments are spliced with their binds renumbered")
    func interpolation() async throws {
        let name = "journey-1'; DROP TABLE x; --"
        let version: Int64 = 3
        let filter: PostgresQuery = "stream_version > \(version) AND stream_name = \(name)"
        let query: PostgresQuery = "SELECT \(identifier: "my \"table\"").* FROM \(identifier: "my \"table\"") WHERE \(filter) AND note = \(String?.none)"
        #expect(query.sql == #"SELECT "my ""table""".* FROM "my ""table""" WHERE stream_version > $1 AND stream_name = $2 AND note = $3"#)
        #expect(query.binds.map(\.text) == ["3", name, nil])
        #expect(!query.description.contains("DROP TABLE"), "descriptions never show bind values")
        let twice: PostgresQuery = "SELECT \(1) WHERE \(filter) OR \(filter)"
        #expect(twice.sql == "SELECT $1 WHERE stream_version > $2 AND stream_name = $3 OR stream_version > $4 AND stream_name = $5")
        #expect(twice.binds.count == 5)

        let (pool, schema) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        try await pool.query("CREATE TABLE \(identifier: "odd \"name\"") (stream_name text, stream_version int8, note text)")
        try await pool.query("INSERT INTO \(identifier: schema).\(identifier: "odd \"name\"") VALUES (\(name), \(version + 1), NULL), ('other', 9, 'x')")
        let rows = try await pool.query("SELECT stream_name, stream_version FROM \(identifier: "odd \"name\"") WHERE \(filter) AND note IS NULL")
        #expect(rows.count == 1)
        #expect(try rows[0].decode(String.self, column: "stream_name") == name)
        #expect(try rows[0].decode(Int64.self, column: "stream_version") == 4)
    }

    @Test("an empty identifier or a raw-SQL fragment with binds is refused when the query runs, naming the problem")
    func problems() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        await #expect {
            try await pool.query("SELECT * FROM \(identifier: "")")
        } throws: { error in
            (error as? PostgresError)?.code == PostgresError.invalidArgument && "\(error)".contains("identifier")
        }
        let raw = PostgresQuery(sql: "stream_name = $1", binds: ["x"])
        await #expect {
            try await pool.query("SELECT 1 WHERE \(raw)")
        } throws: { error in
            (error as? PostgresError)?.code == PostgresError.invalidArgument && "\(error)".contains("$n placeholders")
        }
        #expect(try await pool.query(PostgresQuery(sql: "SELECT $1::text", binds: ["raw"]))[0].decode(String.self, at: 0) == "raw")
    }

    @Test("a transaction's BEGIN travels with its first statement, keeps its isolation level, and a failing first statement rolls back")
    func pipelinedBegin() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        try await pool.query("CREATE TABLE items (id int PRIMARY KEY)")
        let (isolation, secondOnItsOwn) = try await pool.withTransaction(isolation: .repeatableRead) { connection in
            #expect(!connection.isIdle, "a transaction is open even before its BEGIN reached the server")
            let isolation = try await connection.query("SELECT current_setting('transaction_isolation')")[0].decode(String.self, at: 0)
            let open = try await connection.query("SELECT pg_current_xact_id_if_assigned() IS NULL AND now() = statement_timestamp()")[0]
                .decode(Bool.self, at: 0)
            return (isolation, open)
        }
        #expect(isolation == "repeatable read")
        #expect(!secondOnItsOwn, "the second statement ran in the same transaction as the first, not on its own")
        await #expect(throws: PostgresError.self) {
            try await pool.withTransaction { connection in
                try await connection.query("INSERT INTO items VALUES (1), (1)")
            }
        }
        try await pool.withTransaction { connection in
            try await connection.query("INSERT INTO items VALUES (2)")
            try await connection.runScript("INSERT INTO items VALUES (3)")
        }
        // A body that sends nothing opens and commits nothing.
        try await pool.withTransaction { _ in }
        #expect(try await pool.query("SELECT array_agg(id ORDER BY id)::text FROM items")[0].decode(String.self, at: 0) == "{2,3}")
    }
}
