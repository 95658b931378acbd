import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The customers' records as the journeys view needs them (table `customers` of the journeys
/// projection): the tier each has now and the survivor it resolves to after merges. A customer
/// without a row has no record (never registered, or not yet). The view joins a journey's
/// customer to its row and to its survivor's, so a merge or a tier change writes the customers'
/// rows only, however many journeys they have.
struct JourneyCustomers {
    /// A customer event the journeys view reads.
    enum Change {
        case registered(tier: String)
        case tierChanged(String)
        case merged(survivor: String)

        /// The change `recorded` holds; nil for other customer events (links, the survivor's side of
        /// a merge).
        init?(_ recorded: RecordedEvent, codec: EventCodec) throws {
            switch try CustomerEvent.decode(type: recorded.type, data: recorded.data, codec: codec) {
            case .registered(let registered): self = .registered(tier: registered.tier)
            case .tierChanged(let changed): self = .tierChanged(changed.to)
            case .mergedInto(let merged): self = .merged(survivor: merged.survivor)
            case .externalIDLinked, .absorbed, nil: return nil
            }
        }
    }

    private var changes: [(customerId: String, change: Change)] = []

    var isEmpty: Bool { changes.isEmpty }

    mutating func note(_ change: Change, of customerId: String) { changes.append((customerId, change)) }

    static func createTable(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute(
            "CREATE TABLE \(tables.name("customers")) (customer_id text PRIMARY KEY, tier text, survivor_id text)")
        // A merge moves every customer merged into the duplicate before on to the new survivor.
        try await transaction.execute("CREATE INDEX ON \(tables.name("customers")) (survivor_id) WHERE survivor_id IS NOT NULL")
    }

    struct Row {
        var tier: String?
        var survivor: String?
    }

    /// Writes the batch's changes: the rows of the customers it touches, and the survivor of
    /// customers merged before into one it merges.
    func apply(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        var rows = try await load(Array(Set(changes.map(\.customerId))), tables, in: transaction)
        let stored = Set(rows.keys)
        // Duplicate → survivor, for the stored rows that name a duplicate merged in this batch.
        var merged: [String: String] = [:]
        for (customerId, change) in changes {
            switch change {
            case .registered(let tier):
                rows[customerId, default: Row()].tier = tier
            case .tierChanged(let tier):
                rows[customerId, default: Row()].tier = tier
            case .merged(let survivor):
                for (duplicate, earlier) in merged where earlier == customerId { merged[duplicate] = survivor }
                merged[customerId] = survivor
                for (id, row) in rows where row.survivor == customerId { rows[id]!.survivor = survivor }
                rows[customerId, default: Row()].survivor = survivor
            }
        }
        if !merged.isEmpty {
            try await transaction.execute(
                """
                UPDATE \(tables.name("customers")) c SET survivor_id = m.survivor
                FROM unnest(\(PostgresArray(Array(merged.keys)))::text[], \(PostgresArray(Array(merged.values)))::text[]) AS m (duplicate, survivor)
                WHERE c.survivor_id = m.duplicate
                """)
        }
        try await StagedUpsert(tables: tables, table: "customers", columns: ["customer_id", "tier", "survivor_id"], key: ["customer_id"])
            .write(rows.keys, isNew: { !stored.contains($0) }, in: transaction) { id, out in
                out.append(id)
                out.append(rows[id]!.tier)
                out.append(rows[id]!.survivor)
                out.endRow()
            }
    }

    private func load(_ customerIds: [String], _ tables: ProjectionTables, in transaction: Transaction) async throws -> [String: Row] {
        let found = try await transaction.query(
            "SELECT customer_id, tier, survivor_id FROM \(tables.name("customers")) WHERE customer_id = ANY(\(PostgresArray(customerIds))::text[])")
        var rows: [String: Row] = [:]
        for row in found {
            rows[try row.decode(String.self, at: 0)] = Row(tier: try row.decode(String?.self, at: 1), survivor: try row.decode(String?.self, at: 2))
        }
        return rows
    }
}
