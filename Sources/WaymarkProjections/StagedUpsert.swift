import WaymarkEventStore
import WaymarkPostgres

/// Writes a batch of rows into a read-model table the set-based way: COPY into a temporary
/// staging table shaped like it, then one INSERT … ON CONFLICT DO UPDATE from there. Three
/// statements per table and batch, whatever the number of rows. Rows the projection knows to be
/// new (their key was never written) go straight in with COPY, which costs half as much; should
/// one exist after all, the key's unique index refuses it and the batch fails, never skipping it.
///
/// Rows are `CopyBinary` in the order of `columns`; the table needs a unique index on `key`.
public struct StagedUpsert: Sendable {
    public let tables: ProjectionTables
    /// The table's name within the build (`tables.name(table)`).
    public let table: String
    /// The columns the rows hold, in order.
    public let columns: [String]
    /// The columns of the unique key an existing row is matched on (a subset of `columns`).
    public let key: [String]

    public init(tables: ProjectionTables, table: String, columns: [String], key: [String]) {
        self.tables = tables
        self.table = table
        self.columns = columns
        self.key = key
    }

    /// The staging table: temporary, emptied at each commit, one per build and table.
    private var staging: String { tables.prefix + table + "_staging" }

    private var quotedColumns: String { columns.map(PostgresIdentifier.quote).joined(separator: ", ") }

    /// Writes `new` rows, whose keys were never written, and `changed` rows, which may be stored.
    public func write(new: CopyBinary, changed: CopyBinary, in transaction: Transaction) async throws {
        try await insert(new, in: transaction)
        try await write(changed, in: transaction)
    }

    /// Writes rows whose keys were never written: COPY straight into the table.
    public func insert(_ rows: CopyBinary, in transaction: Transaction) async throws {
        if !rows.isEmpty { try await transaction.copyIn("COPY \(tables.name(table).sql) (\(quotedColumns)) FROM STDIN (FORMAT binary)", rows) }
    }

    /// Writes a row for each of `items` with `row`: those for which `isNew` holds straight in,
    /// the others through the staging table.
    public func write<Items: Sequence>(
        _ items: Items, isNew: (Items.Element) -> Bool, in transaction: Transaction, row: (Items.Element, inout CopyBinary) throws -> Void
    ) async throws {
        var rows = (new: CopyBinary(), changed: CopyBinary())
        for item in items {
            if isNew(item) { try row(item, &rows.new) } else { try row(item, &rows.changed) }
        }
        try await write(new: rows.new, changed: rows.changed, in: transaction)
    }

    /// Writes rows that may be stored already: through the staging table, updating those that are.
    public func write(_ rows: CopyBinary, in transaction: Transaction) async throws {
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
