import Foundation
import Logging

/// One numbered SQL file (`NNNN_name.sql`) of a migrations folder.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
    public var fileName: String

    public init(version: Int, name: String, sql: String, fileName: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.fileName = fileName
    }
}

/// What `Migrator.status` reports for one migration.
public struct MigrationStatus: Sendable {
    public var migration: Migration
    public var appliedAt: Date?
}

/// Applies numbered SQL migrations to one schema, each in its own transaction, recording each with
/// a SHA-256 checksum. A recorded migration whose file changed is refused: landed migrations are
/// never edited; a new numbered file carries the change.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    public let schema: String
    /// The table in `schema` that records which of these migrations were applied: a module that
    /// owns tables of its own (the process manager) keeps its history apart from the store's.
    public let history: String
    let logger: Logger

    public init(migrations: [Migration], schema: String, history: String = "schema_migrations", logger: Logger) throws {
        try PostgresIdentifier.checkSchemaName(schema)
        try PostgresIdentifier.checkSchemaName(history)
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.schema = schema
        self.history = history
        self.logger = logger
    }

    /// Loads `NNNN_name.sql` files from `directory`.
    public static func load(directory: URL) throws -> [Migration] {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: directory.path) else {
            throw MigrationError(.folderUnreadable, "the migrations directory \(directory.path) cannot be read")
        }
        var migrations: [Migration] = []
        var seen: [Int: String] = [:]
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            let stem = fileName.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw MigrationError(.misnamed, "migration file \(fileName) is not named NNNN_description.sql")
            }
            if let other = seen[version] {
                throw MigrationError(.duplicateVersion, "migrations \(other) and \(fileName) share version \(version)")
            }
            seen[version] = fileName
            let sql = try String(contentsOf: directory.appendingPathComponent(fileName), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql, fileName: fileName))
        }
        return migrations.sorted { $0.version < $1.version }
    }

    private var table: String { PostgresIdentifier.quote(schema) + "." + PostgresIdentifier.quote(history) }
    private var tableName: PostgresQuery { "\(identifier: schema).\(identifier: history)" }

    /// Applies pending migrations; returns the ones applied now. Concurrent migrators of the same
    /// schema wait for each other.
    @discardableResult
    public func migrate(_ pool: PostgresPool) async throws -> [Migration] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(7461, hashtext(\(schema)))")
            do {
                let applied = try await migrateLocked(connection)
                try await connection.query("SELECT pg_advisory_unlock(7461, hashtext(\(schema)))")
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7461, hashtext(\(schema)))")
                throw error
            }
        }
    }

    /// Each migration with the time it was applied, if it was. Also verifies checksums.
    public func status(_ pool: PostgresPool) async throws -> [MigrationStatus] {
        try await pool.withConnection { connection in
            let exists = try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL")
            guard try exists[0].decode(Bool.self, at: 0) else {
                return migrations.map { MigrationStatus(migration: $0, appliedAt: nil) }
            }
            let recorded = try await verify(connection)
            return migrations.map { MigrationStatus(migration: $0, appliedAt: recorded[$0.version]) }
        }
    }

    private func migrateLocked(_ connection: PostgresConnection) async throws -> [Migration] {
        try await connection.runScript(
            """
            CREATE SCHEMA IF NOT EXISTS \(PostgresIdentifier.quote(schema));
            CREATE TABLE IF NOT EXISTS \(table) (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """)
        let recorded = try await verify(connection)
        var applied: [Migration] = []
        for migration in migrations where recorded[migration.version] == nil {
            logger.info("applying migration", metadata: ["waymark.migration": "\(migration.fileName)", "waymark.schema": "\(schema)"])
            try await connection.transaction { connection in
                try await connection.runScript("SET LOCAL search_path TO \(PostgresIdentifier.quote(schema))")
                do {
                    try await connection.runScript(migration.sql)
                } catch var error as PostgresError {
                    error.serverMessage = "migration \(migration.fileName) failed: \(error.serverMessage)"
                    throw error
                }
                try await connection.query(
                    "INSERT INTO \(tableName) (version, name, checksum) VALUES (\(migration.version), \(migration.name), encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex'))"
                )
            }
            applied.append(migration)
        }
        return applied
    }

    /// Checks every recorded migration against its file; returns version → applied time.
    private func verify(_ connection: PostgresConnection) async throws -> [Int: Date] {
        let rows = try await connection.query(
            """
            SELECT m.version, m.name, m.checksum, m.applied_at, f.checksum
            FROM \(tableName) m
            LEFT JOIN unnest(\(PostgresArray(migrations.map { String($0.version) }))::int[], \(PostgresArray(migrations.map(\.sql)))::text[])
                AS f_raw(version, sql) ON f_raw.version = m.version
            LEFT JOIN LATERAL (SELECT encode(sha256(convert_to(f_raw.sql, 'UTF8')), 'hex') AS checksum) f ON true
            ORDER BY m.version
            """)
        var recorded: [Int: Date] = [:]
        for row in rows {
            let (version, name, checksum, appliedAt, fileChecksum) = try row.decode(Int.self, String.self, String.self, Date.self, String?.self)
            guard let fileChecksum else {
                throw MigrationError(
                    .fileMissing,
                    "migration \(version) (\(name)) is recorded in schema \(schema) but its file is missing from the migrations directory")
            }
            if fileChecksum != checksum {
                let file = migrations.first { $0.version == version }!.fileName
                throw MigrationError(
                    .edited,
                    "migration \(file) was edited after it was applied to schema \(schema) (recorded checksum \(checksum.prefix(12))…, file now \(fileChecksum.prefix(12))…); a landed migration is never edited: restore it and add a new numbered migration instead"
                )
            }
            recorded[version] = appliedAt
        }
        return recorded
    }
}
