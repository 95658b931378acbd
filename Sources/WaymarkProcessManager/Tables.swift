import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Watches and deadlines are stored as JSON that only this module reads: dates as seconds, which
/// convert back to the same `Date` exactly.
enum StoredJSON {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

/// `pm_watches` and `pm_customers`.
enum WatchTable {
    /// The watches of `journeyIds` and the open ones of `openOfCustomers`, by journey id.
    static func load(journeyIds: [String], openOfCustomers: [String], in transaction: Transaction) async throws -> [String: JourneyWatch] {
        let rows = try await transaction.query(
            """
            SELECT watch::text FROM pm_watches
            WHERE journey_id = ANY(\(PostgresArray(journeyIds))::text[]) OR (open AND customer_id = ANY(\(PostgresArray(openOfCustomers))::text[]))
            """)
        var watches: [String: JourneyWatch] = [:]
        for row in rows {
            let watch = try StoredJSON.decode(JourneyWatch.self, try row.decode(String.self, at: 0))
            watches[watch.journeyId] = watch
        }
        return watches
    }

    static func write(_ watches: [JourneyWatch], in transaction: Transaction) async throws {
        guard !watches.isEmpty else { return }
        try await transaction.execute(
            """
            INSERT INTO pm_watches (journey_id, customer_id, open, version, watch)
            SELECT * FROM unnest(\(PostgresArray(watches.map(\.journeyId)))::text[], \(PostgresArray(watches.map(\.customerId)))::text[],
                \(PostgresArray(watches.map { $0.isOpen ? "t" : "f" }))::bool[], \(PostgresArray(watches.map { String($0.version) }))::int8[],
                \(PostgresArray(try watches.map(StoredJSON.encode)))::jsonb[])
            ON CONFLICT (journey_id) DO UPDATE
                SET customer_id = excluded.customer_id, open = excluded.open, version = excluded.version, watch = excluded.watch
            """)
    }

    static func tiers(of customerIds: [String], in transaction: Transaction) async throws -> [String: String] {
        guard !customerIds.isEmpty else { return [:] }
        let rows = try await transaction.query(
            "SELECT customer_id, tier FROM pm_customers WHERE customer_id = ANY(\(PostgresArray(customerIds))::text[])")
        return Dictionary(try rows.map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) }) { first, _ in first }
    }

    static func writeTiers(_ tiers: [String: String], in transaction: Transaction) async throws {
        guard !tiers.isEmpty else { return }
        let pairs = tiers.sorted { $0.key < $1.key }
        try await transaction.execute(
            """
            INSERT INTO pm_customers (customer_id, tier)
            SELECT * FROM unnest(\(PostgresArray(pairs.map(\.key)))::text[], \(PostgresArray(pairs.map(\.value)))::text[])
            ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier
            """)
    }
}

/// A deadline as `pm_deadlines` stores it: a journey's or a consent subject's, each in its own
/// owner column.
protocol StoredDeadline: Codable, Equatable, Sendable {
    /// `journey_id` or `subject_id`.
    static var ownerColumn: String { get }
    var id: String { get }
    var ownerId: String { get }
    var kindName: String { get }
    var dueAt: Date { get }
}

extension Deadline: StoredDeadline {
    static var ownerColumn: String { "journey_id" }
    var ownerId: String { journeyId }
    var kindName: String { kind.rawValue }
}

extension ConsentDeadline: StoredDeadline {
    static var ownerColumn: String { "subject_id" }
    var ownerId: String { subjectId }
    var kindName: String { Self.kind }
}

/// `pm_deadlines`.
enum DeadlineTable {
    /// The latest version of every deadline of `owners` (journeys or consent subjects), by owner
    /// and deadline id.
    static func latest<Scheduled: StoredDeadline>(_ type: Scheduled.Type, of owners: [String], in transaction: Transaction) async throws
        -> [String: [String: DeadlineChanges<Scheduled>.Stored]]
    {
        let rows = try await transaction.query(
            """
            SELECT DISTINCT ON (deadline_id) deadline_id, version, state, \(identifier: Scheduled.ownerColumn), deadline::text FROM pm_deadlines
            WHERE \(identifier: Scheduled.ownerColumn) = ANY(\(PostgresArray(owners))::text[])
            ORDER BY deadline_id, version DESC
            """)
        var latest: [String: [String: DeadlineChanges<Scheduled>.Stored]] = [:]
        for row in rows {
            let (id, version, state, owner, text) = try row.decode(String.self, Int.self, String.self, String.self, String.self)
            latest[owner, default: [:]][id] = .init(version: version, state: state, deadline: try StoredJSON.decode(Scheduled.self, text))
        }
        return latest
    }

    static func cancel(_ versions: [(id: String, version: Int)], in transaction: Transaction) async throws {
        guard !versions.isEmpty else { return }
        try await transaction.execute(
            """
            UPDATE pm_deadlines d SET state = 'cancelled', closed_at = now()
            FROM unnest(\(PostgresArray(versions.map(\.id)))::text[], \(PostgresArray(versions.map { String($0.version) }))::int[]) AS c(id, version)
            WHERE d.deadline_id = c.id AND d.version = c.version AND d.state = 'pending'
            """)
    }

    /// Adds the versions; one whose deadline fired meanwhile (an instance fired it while this
    /// batch rescheduled it for a customer's tier change) is left out: it fired once, before.
    static func insert<Scheduled: StoredDeadline>(_ deadlines: [(deadline: Scheduled, version: Int)], in transaction: Transaction) async throws {
        guard !deadlines.isEmpty else { return }
        let items = deadlines.map(\.deadline)
        try await transaction.execute(
            """
            INSERT INTO pm_deadlines (deadline_id, version, \(identifier: Scheduled.ownerColumn), kind, state, due_at, deadline)
            SELECT id, version, owner, kind, 'pending', due_at, deadline FROM unnest(
                \(PostgresArray(items.map(\.id)))::text[], \(PostgresArray(deadlines.map { String($0.version) }))::int[],
                \(PostgresArray(items.map(\.ownerId)))::text[], \(PostgresArray(items.map(\.kindName)))::text[],
                \(PostgresArray(items.map { TimestampText.iso8601($0.dueAt) }))::timestamptz[], \(PostgresArray(try items.map(StoredJSON.encode)))::jsonb[]
            ) AS n(id, version, owner, kind, due_at, deadline)
            ON CONFLICT (deadline_id) WHERE state <> 'cancelled' DO NOTHING
            """)
    }
}

/// What brings the stored deadlines of the watches a batch changed in line with what each wants
/// now: a new or changed deadline gets the next version (its pending version cancelled), a pending
/// one no longer wanted is cancelled, a fired one stays fired. A due time is never edited in place.
struct DeadlineChanges<Scheduled: StoredDeadline> {
    /// The latest stored version of a deadline.
    struct Stored {
        var version: Int
        var state: String
        var deadline: Scheduled
    }

    var cancel: [(id: String, version: Int)] = []
    var add: [(deadline: Scheduled, version: Int)] = []

    /// One watch's part: `wanted` now, against `stored`, the latest version of each of that
    /// watch's deadlines by id.
    mutating func reconcile(wanted: [Scheduled], stored: [String: Stored]) {
        var unwanted = stored
        for deadline in wanted {
            let key = deadline.id
            switch unwanted.removeValue(forKey: key) {
            case nil: add.append((deadline, 1))
            case .some(let row) where row.state == "fired": continue
            case .some(let row) where row.state == "pending" && row.deadline == deadline: continue
            case .some(let row):
                if row.state == "pending" { cancel.append((key, row.version)) }
                add.append((deadline, row.version + 1))
            }
        }
        for (key, row) in unwanted where row.state == "pending" { cancel.append((key, row.version)) }
    }
}
