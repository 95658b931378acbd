import WaymarkEventStore
import WaymarkPostgres

/// Writes a batch of rows into a read-model table the set-based way: COPY into a temporary
/// staging table shaped like it, then one INSERT … ON CONFLICT DO UPDATE from there. Three
/// statements per table and batch, whatever the number of rows. Rows the projection knows to be
/// new (their key was never written) go straight in with COPY, which costs half as much; should
/// one exist after all, the key's unique index refuses it and the batch fails, never skipping it.
struct StagedUpsert: Sendable {
    let tables: ProjectionTables
    let table: String
    let columns: [String]
    let key: [String]

    /// The staging table: temporary, emptied at each commit, one per build and table.
    private var staging: String { tables.prefix + table + "_staging" }

    private var quotedColumns: String { columns.map(PostgresIdentifier.quote).joined(separator: ", ") }

    /// Writes `new` rows, whose keys were never written, and `changed` rows, which may be stored.
    func write(new: CopyBinary, changed: CopyBinary, in transaction: Transaction) async throws {
        try await insert(new, in: transaction)
        try await write(changed, in: transaction)
    }

    /// Writes rows whose keys were never written: COPY straight into the table.
    func insert(_ rows: CopyBinary, in transaction: Transaction) async throws {
        if !rows.isEmpty { try await transaction.copyIn("COPY \(tables.name(table).sql) (\(quotedColumns)) FROM STDIN (FORMAT binary)", rows) }
    }

    /// Writes a row for each of `items` with `row`: those for which `isNew` holds straight in,
    /// the others through the staging table.
    func write<Items: Sequence>(
        _ items: Items, isNew: (Items.Element) -> Bool, in transaction: Transaction, row: (Items.Element, inout CopyBinary) throws -> Void
    ) async throws {
        var rows = (new: CopyBinary(), changed: CopyBinary())
        for item in items {
            if isNew(item) { try row(item, &rows.new) } else { try row(item, &rows.changed) }
        }
        try await write(new: rows.new, changed: rows.changed, in: transaction)
    }

    func write(_ rows: CopyBinary, in transaction: Transaction) async throws {
        guard !rows.isEmpty else { return }
        let quoted = quotedColumns
        try await transaction.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS \(identifier: staging) (LIKE \(tables.name(table)) INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
            """)
        try await transaction.copyIn("COPY pg_temp.\(PostgresIdentifier.quote(staging)) (\(quoted)) FROM STDIN (FORMAT binary)", rows)
        let updates = columns.filter { !key.contains($0) }.map { "\(PostgresIdentifier.quote($0)) = EXCLUDED.\(PostgresIdentifier.quote($0))" }
        try await transaction.execute(
            """
            INSERT INTO \(tables.name(table)) (\(PostgresQuery(sql: quoted)))
            SELECT \(PostgresQuery(sql: quoted)) FROM pg_temp.\(identifier: staging)
            ON CONFLICT (\(PostgresQuery(sql: key.map(PostgresIdentifier.quote).joined(separator: ", "))))
            DO UPDATE SET \(PostgresQuery(sql: updates.joined(separator: ", ")))
            """)
    }
}
