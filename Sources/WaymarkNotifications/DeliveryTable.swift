import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// A notification a worker has claimed: its request and which attempt this is.
struct ClaimedDelivery: Sendable {
    var request: NotificationEvent.Requested
    var stream: String
    /// 1 for the first attempt; counted when claimed, so an attempt cut short by a crash counts.
    var attempt: Int
}

/// A notification's outcome to record: its row's new state and the events to append.
struct Outcome: Sendable {
    var claimed: ClaimedDelivery
    var state: String
    var events: [(id: UUID, event: any DomainEvent)]
    var metadata: EventMetadata
    var status: Int?
    var error: String?
    var now: Date
}

/// The SQL of `nt_deliveries` a worker runs: claim, put off, close.
struct DeliveryTable: Sendable {
    let store: EventStore
    let codec: EventCodec
    let worker: String

    /// Claims up to `limit` pending notifications due at `now` whose lease (if any) ran out.
    func claim(limit: Int, now: Date, lease: Duration) async throws -> [ClaimedDelivery] {
        let until = now.addingTimeInterval(WallTime.seconds(lease))
        let rows = try await store.pool.query(
            """
            UPDATE nt_deliveries d SET leased_by = \(worker), leased_until = \(until), attempts = d.attempts + 1
            FROM (
                SELECT notification_id FROM nt_deliveries
                WHERE state = 'pending' AND next_attempt_at <= \(now) AND (leased_until IS NULL OR leased_until <= \(now))
                ORDER BY next_attempt_at, notification_id LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ) c
            WHERE d.notification_id = c.notification_id
            RETURNING d.stream, d.request::text, d.attempts
            """)
        return try rows.map { row in
            let (stream, text, attempts) = try row.decode(String.self, String.self, Int.self)
            return ClaimedDelivery(request: try codec.decode(NotificationEvent.Requested.self, from: text), stream: stream, attempt: attempts)
        }
    }

    /// Puts a claimed notification off to `at`: after a failed attempt (`counted`), or because the
    /// endpoint's circuit is open (the claim's attempt is given back).
    func putOff(_ id: String, to at: Date, counted: Bool, status: Int? = nil, error: String? = nil) async throws {
        try await store.pool.query(
            """
            UPDATE nt_deliveries SET next_attempt_at = \(at), leased_by = NULL, leased_until = NULL,
                attempts = attempts - \(counted ? 0 : 1), last_status = coalesce(\(status), last_status), last_error = coalesce(\(error), last_error)
            WHERE notification_id = \(id) AND state = 'pending' AND leased_by = \(worker)
            """)
    }

    /// Closes notifications with their outcome events, in one transaction: the rows' states and the
    /// events on the journeys' streams. A notification closed already (by another worker whose
    /// lease on it had run out, or by the feed) gets nothing appended. Throws when any append
    /// fails: nothing is closed then.
    func close(_ outcomes: [Outcome]) async throws {
        var data: [String: [EventData]] = [:]
        for outcome in outcomes {
            data[outcome.claimed.request.notificationId] = try outcome.events.map {
                EventData(id: $0.id, type: $0.event.type, data: try $0.event.encode(with: codec, subject: nil), metadata: outcome.metadata)
            }
        }
        let now = outcomes.map(\.now).max() ?? Date()
        try await store.transaction { transaction in
            let closed = try await transaction.query(
                """
                UPDATE nt_deliveries d SET state = c.state, closed_at = c.at::timestamptz, leased_by = NULL, leased_until = NULL,
                    last_status = coalesce(c.status::int, d.last_status), last_error = coalesce(c.error, d.last_error)
                FROM unnest(\(PostgresArray(outcomes.map(\.claimed.request.notificationId)))::text[], \(PostgresArray(outcomes.map(\.state)))::text[],
                            \(PostgresArray(outcomes.map { TimestampText.iso8601($0.now) }))::text[],
                            \(PostgresArray(outcomes.map { $0.status.map(String.init) }))::text[], \(PostgresArray(outcomes.map(\.error)))::text[])
                    AS c(id, state, at, status, error)
                WHERE d.notification_id = c.id AND d.state = 'pending'
                RETURNING d.notification_id
                """)
            let closedIds = Set(try closed.map { try $0.decode(String.self, at: 0) })
            // One append per stream, in stream-name order like every multi-stream writer.
            var byStream: [String: [EventData]] = [:]
            for outcome in outcomes where closedIds.contains(outcome.claimed.request.notificationId) {
                byStream[outcome.claimed.stream, default: []] += data[outcome.claimed.request.notificationId] ?? []
            }
            for stream in byStream.keys.sorted() { try await transaction.append(to: stream, expected: .any, events: byStream[stream]!) }
            let counted = outcomes.filter { closedIds.contains($0.claimed.request.notificationId) }
            func count(_ state: String) -> Int { counted.count { $0.state == state } }
            try await transaction.execute(
                """
                INSERT INTO nt_workers (worker, started_at, seen_at, delivered, failed, suppressed)
                VALUES (\(worker), \(now), \(now), \(count("delivered")), \(count("failed")), \(count("suppressed")))
                ON CONFLICT (worker) DO UPDATE SET seen_at = excluded.seen_at, delivered = nt_workers.delivered + excluded.delivered,
                    failed = nt_workers.failed + excluded.failed, suppressed = nt_workers.suppressed + excluded.suppressed
                """)
        }
    }

    /// The earliest time a pending notification is due or its lease runs out.
    func nextDue() async throws -> Date? {
        let rows = try await store.pool.query(
            "SELECT min(greatest(next_attempt_at, coalesce(leased_until, next_attempt_at))) FROM nt_deliveries WHERE state = 'pending'")
        return try rows.first?.decode(Date?.self, at: 0)
    }
}
