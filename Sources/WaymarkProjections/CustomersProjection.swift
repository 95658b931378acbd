import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Customers as analysts may see them (no personal data: names, e-mail addresses and phones stay in
/// the events): tier, merges, and which customer each external id (CRM, ERP, support, billing)
/// belongs to now, from the `customer` category.
public struct CustomersProjection: Projection {
    public let name = "customers"
    public let version = 1
    public let source = SubscriptionSource.category(CustomerDecider.category)

    /// How the log's events are read: where sealed personal fields are opened.
    public let codec: EventCodec

    public init(codec: EventCodec = .standard) { self.codec = codec }

    public func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("customers")) (
                customer_id text PRIMARY KEY,
                tier text,
                registered_at timestamptz,
                merged_into text,
                merged_at timestamptz,
                last_event_at timestamptz NOT NULL
            )
            """)
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("external_ids")) (
                system text NOT NULL,
                external_id text NOT NULL,
                customer_id text NOT NULL,
                linked_at timestamptz NOT NULL,
                PRIMARY KEY (system, external_id)
            )
            """)
        try await transaction.execute("CREATE INDEX ON \(tables.name("external_ids")) (customer_id)")
    }

    public func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [
            (
                "customers",
                // survivor_id follows merges to the record that absorbed this one in the end.
                """
                WITH RECURSIVE chain AS (
                    SELECT customer_id AS start, customer_id, merged_into, 0 AS depth FROM \(tables.name("customers"))
                    UNION ALL
                    SELECT chain.start, c.customer_id, c.merged_into, chain.depth + 1
                    FROM chain JOIN \(tables.name("customers")) c ON c.customer_id = chain.merged_into WHERE chain.depth < 64
                )
                SELECT c.customer_id, c.tier, c.registered_at, c.merged_into, c.merged_at,
                    (SELECT chain.customer_id FROM chain WHERE chain.start = c.customer_id AND chain.merged_into IS NULL LIMIT 1) AS survivor_id,
                    coalesce((SELECT array_agg(e.system || ':' || e.external_id ORDER BY e.system, e.external_id)
                              FROM \(tables.name("external_ids")) e WHERE e.customer_id = c.customer_id), '{}') AS external_ids
                FROM \(tables.name("customers")) c
                """
            ),
            ("external_ids", "SELECT system, external_id, customer_id, linked_at FROM \(tables.name("external_ids"))"),
        ]
    }

    struct Row {
        var customerId: String
        var tier: String?
        var registeredAt: Date?
        var mergedInto: String?
        var mergedAt: Date?
        var lastEventAt: Date

        static let columns = ["customer_id", "tier", "registered_at", "merged_into", "merged_at", "last_event_at"]
        func write(into rows: inout CopyBinary) {
            rows.append(customerId)
            rows.append(tier)
            rows.append(registeredAt)
            rows.append(mergedInto)
            rows.append(mergedAt)
            rows.append(lastEventAt)
            rows.endRow()
        }
    }

    public func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        let batch = try DecodedBatch(events) { [codec] in try CustomerEvent.decode(type: $0.type, data: $0.data, codec: codec) }
        guard !batch.events.isEmpty else { return batch.ignored }
        let stored = try await load(batch.idsStoredBefore(), tables, transaction)
        var rows = stored
        // An external id's current holder, by system and id.
        var links: [ExternalIDKey: (holder: String, at: Date)] = [:]
        for (recorded, customerId, event) in batch.events {
            let at = recorded.occurredAt
            var row = rows[customerId] ?? Row(customerId: customerId, lastEventAt: at)
            row.lastEventAt = max(row.lastEventAt, at)
            func link(_ ids: [ExternalID], to holder: String) {
                for id in ids { links[ExternalIDKey(system: id.system, id: id.id)] = (holder, at) }
            }
            switch event {
            case .registered(let registered):
                row.tier = registered.tier
                row.registeredAt = at
            case .externalIDLinked(let id):
                link([id], to: customerId)
            case .tierChanged(let changed):
                row.tier = changed.to
            case .mergedInto(let merged):
                row.mergedInto = merged.survivor
                row.mergedAt = at
                link(merged.externalIDs, to: merged.survivor)
            case .absorbed(let absorbed):
                link(absorbed.externalIDs, to: customerId)
            }
            rows[customerId] = row
        }
        try await StagedUpsert(tables: tables, table: "customers", columns: Row.columns, key: ["customer_id"])
            .write(rows.values, isNew: { stored[$0.customerId] == nil }, in: transaction) { $0.write(into: &$1) }
        // An id may have been linked before, to this customer or another: every link is an upsert.
        var linkRows = CopyBinary()
        for (key, link) in links {
            for text in [key.system, key.id, link.holder] { linkRows.append(text) }
            linkRows.append(link.at)
            linkRows.endRow()
        }
        try await StagedUpsert(
            tables: tables, table: "external_ids", columns: ["system", "external_id", "customer_id", "linked_at"], key: ["system", "external_id"]
        )
        .write(linkRows, in: transaction)
        return batch.ignored
    }

    struct ExternalIDKey: Hashable {
        var system: String
        var id: String
    }

    private func load(_ customerIds: [String], _ tables: ProjectionTables, _ transaction: Transaction) async throws -> [String: Row] {
        guard !customerIds.isEmpty else { return [:] }
        let rows = try await transaction.query(
            """
            SELECT customer_id, tier, registered_at, merged_into, merged_at, last_event_at
            FROM \(tables.name("customers")) WHERE customer_id = ANY(\(PostgresArray(customerIds))::text[])
            """)
        var out: [String: Row] = [:]
        for row in rows {
            let (id, tier, registered, mergedInto, merged, last) = try row.decode(String.self, String?.self, Date?.self, String?.self, Date?.self, Date.self)
            out[id] = Row(customerId: id, tier: tier, registeredAt: registered, mergedInto: mergedInto, mergedAt: merged, lastEventAt: last)
        }
        return out
    }
}
