import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@Suite("Migrations")
struct MigratorTests {
    func writeMigrations(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, sql) in files { try sql.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return directory
    }

    @Test("applies pending migrations once, in order, with checksums")
    func appliesOnce() async throws {
        let (pool, schema) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let directory = try writeMigrations([
            "0002_add_column.sql": "ALTER TABLE things ADD COLUMN label text;",
            "0001_create.sql": "CREATE TABLE things (id int PRIMARY KEY);",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let migrator = try Migrator(migrations: try Migrator.load(directory: directory), schema: schema, logger: TestDatabase.quietLogger)
        #expect(try await migrator.migrate(pool).map(\.version) == [1, 2])
        #expect(try await migrator.migrate(pool).isEmpty)
        let recorded = try await pool.query("SELECT version, length(checksum) FROM schema_migrations ORDER BY version")
        #expect(try recorded.map { try $0.decode(Int.self, Int.self) }.map { [$0.0, $0.1] } == [[1, 64], [2, 64]])
        try await pool.query("INSERT INTO things (id, label) VALUES (1, 'x')")
        #expect(try await migrator.status(pool).allSatisfy { $0.appliedAt != nil })
    }

    @Test("an edited landed migration is refused with a clear error, and nothing else is applied")
    func editedMigrationRefused() async throws {
        let (pool, schema) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let directory = try writeMigrations(["0001_create.sql": "CREATE TABLE things (id int PRIMARY KEY);"])
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Migrator(migrations: try Migrator.load(directory: directory), schema: schema, logger: TestDatabase.quietLogger).migrate(pool)

        try "CREATE TABLE things (id bigint PRIMARY KEY);".write(to: directory.appendingPathComponent("0001_create.sql"), atomically: true, encoding: .utf8)
        try "CREATE TABLE others (id int);".write(to: directory.appendingPathComponent("0002_others.sql"), atomically: true, encoding: .utf8)
        do {
            try await Migrator(migrations: try Migrator.load(directory: directory), schema: schema, logger: TestDatabase.quietLogger).migrate(pool)
            Issue.record("an edited migration must be refused")
        } catch let error as MigrationError {
            #expect(error.code == .edited)
            #expect(error.message.contains("0001_create.sql was edited after it was applied"))
            #expect(error.message.contains("add a new numbered migration"))
        }
        #expect(try await pool.query("SELECT to_regclass('others') IS NULL")[0].decode(Bool.self, at: 0))
    }

    @Test("a failing migration rolls back entirely and is not recorded")
    func failingMigrationRollsBack() async throws {
        let (pool, schema) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let directory = try writeMigrations([
            "0001_create.sql": "CREATE TABLE things (id int PRIMARY KEY);",
            "0002_broken.sql": "CREATE TABLE half (id int); SELECT * FROM missing_table;",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try await Migrator(migrations: try Migrator.load(directory: directory), schema: schema, logger: TestDatabase.quietLogger).migrate(pool)
            Issue.record("a broken migration must fail")
        } catch let error as PostgresError {
            #expect(error.code == "42P01")
            #expect(error.message.contains("0002_broken.sql"))
        }
        #expect(try await pool.query("SELECT to_regclass('half') IS NULL, to_regclass('things') IS NOT NULL")[0].decode(Bool.self, Bool.self) == (true, true))
        #expect(try await pool.query("SELECT count(*) FROM schema_migrations")[0].decode(Int.self, at: 0) == 1)
    }

    @Test("an unreadable folder, badly named or duplicate migration files are the migrator's own errors")
    func badFileNames() throws {
        #expect {
            try Migrator.load(directory: URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)"))
        } throws: { ($0 as? MigrationError)?.code == .folderUnreadable && "\($0)".hasPrefix("migrations_unreadable: ") }
        let bad = try writeMigrations(["create.sql": "SELECT 1;"])
        defer { try? FileManager.default.removeItem(at: bad) }
        #expect { try Migrator.load(directory: bad) } throws: { ($0 as? MigrationError)?.code == .misnamed }
        let duplicate = try writeMigrations(["0001_a.sql": "SELECT 1;", "1_b.sql": "SELECT 2;"])
        defer { try? FileManager.default.removeItem(at: duplicate) }
        #expect { try Migrator.load(directory: duplicate) } throws: { ($0 as? MigrationError)?.code == .duplicateVersion }
        #expect(throws: PostgresError.self) { try Migrator(migrations: [], schema: "Bad Schema", logger: TestDatabase.quietLogger) }
    }
}
