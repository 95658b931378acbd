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

    /// Closes a notification with its outcome events, in one transaction: the row's state and the
    /// events on the journey's stream. False when it was closed already (by another worker whose
    /// lease on it had run out, or by the feed); then nothing is appended.
    func close(
        _ claimed: ClaimedDelivery, state: String, events: [(id: UUID, event: any DomainEvent)], metadata: EventMetadata, status: Int?, error: String?,
        now: Date
    ) async throws -> Bool {
        let data = try events.map { EventData(id: $0.id, type: $0.event.type, data: try $0.event.encode(with: codec, subject: nil), metadata: metadata) }
        do {
            return try await store.transaction { transaction in
                let updated = try await transaction.execute(
                    """
                    UPDATE nt_deliveries SET state = \(state), closed_at = \(now), leased_by = NULL, leased_until = NULL,
                        last_status = coalesce(\(status), last_status), last_error = coalesce(\(error), last_error)
                    WHERE notification_id = \(claimed.request.notificationId) AND state = 'pending'
                    """)
                guard updated == 1 else { return false }
                try await transaction.append(to: claimed.stream, expected: .any, events: data)
                try await transaction.execute(
                    """
                    INSERT INTO nt_workers (worker, started_at, seen_at, delivered, failed, suppressed)
                    VALUES (\(worker), \(now), \(now), \(state == "delivered" ? 1 : 0), \(state == "failed" ? 1 : 0), \(state == "suppressed" ? 1 : 0))
                    ON CONFLICT (worker) DO UPDATE SET seen_at = excluded.seen_at, delivered = nt_workers.delivered + excluded.delivered,
                        failed = nt_workers.failed + excluded.failed, suppressed = nt_workers.suppressed + excluded.suppressed
                    """)
                return true
            }
        } catch let error as EventStoreError where error.code == .idempotencyConflict {
            // Another worker recorded a different outcome under the notification's one outcome id
            // (its lease had run out while this one still sent): the first outcome stands, and
            // the feed closes the row when it reads it.
            return false
        }
    }

    /// The earliest time a pending notification is due or its lease runs out.
    func nextDue() async throws -> Date? {
        let rows = try await store.pool.query(
            "SELECT min(greatest(next_attempt_at, coalesce(leased_until, next_attempt_at))) FROM nt_deliveries WHERE state = 'pending'")
        return try rows.first?.decode(Date?.self, at: 0)
    }
}
