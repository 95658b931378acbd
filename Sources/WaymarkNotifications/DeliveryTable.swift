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

    /// Claims up to `limit` pending notifications due at `now` whose lease (if any) ran out. Their
    /// requests come from `memory` where the feed of this process read them, else from the rows.
    func claim(limit: Int, now: Date, lease: Duration, memory: WorkerMemory) async throws -> [ClaimedDelivery] {
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
            RETURNING d.notification_id, d.request_event_id, d.stream, d.attempts
            """)
        var claimed: [ClaimedDelivery] = []
        var unknown: [(id: String, stream: String, attempts: Int)] = []
        for row in rows {
            let (id, eventId, stream, attempts) = try row.decode(String.self, UUID.self, String.self, Int.self)
            if let request = memory.request(id, eventId: eventId) {
                claimed.append(ClaimedDelivery(request: request, stream: stream, attempt: attempts))
            } else {
                unknown.append((id, stream, attempts))
            }
        }
        guard !unknown.isEmpty else { return claimed }
        // Leased to this worker now, so the rows cannot change under this read.
        let texts = try await store.pool.query(
            "SELECT notification_id, request::text FROM nt_deliveries WHERE notification_id = ANY(\(PostgresArray(unknown.map(\.id)))::text[])")
        var requests: [String: String] = [:]
        for row in texts {
            let (id, text) = try row.decode(String.self, String.self)
            requests[id] = text
        }
        for row in unknown {
            guard let text = requests[row.id] else { continue }
            claimed.append(ClaimedDelivery(request: try codec.decode(NotificationEvent.Requested.self, from: text), stream: row.stream, attempt: row.attempts))
        }
        return claimed
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

    /// Records outcomes: first their events, on the journeys' streams in one multi-stream append
    /// (one statement), then the rows' states and the worker's counters (one more). Not one
    /// transaction, and need not be: a worker that dies between the two leaves events whose rows
    /// the feed closes when it reads them. Throws when the append fails (nothing of it is stored):
    /// e.g. another worker, whose lease had run out, recorded a different outcome under an
    /// outcome's one id.
    /// Returns the notifications whose rows it closed: not those another worker, or the feed,
    /// closed first.
    func close(_ outcomes: [Outcome]) async throws -> [String] {
        var byStream: [String: [EventData]] = [:]
        for outcome in outcomes {
            byStream[outcome.claimed.stream, default: []] += try outcome.events.map {
                EventData(id: $0.id, type: $0.event.type, data: try $0.event.encode(with: codec, subject: nil), metadata: outcome.metadata)
            }
        }
        try await store.append(byStream.keys.sorted().map { StreamAppend(to: $0, expected: .any, events: byStream[$0]!) })
        let closing = ClosedRows(
            ids: outcomes.map(\.claimed.request.notificationId), states: outcomes.map(\.state), at: outcomes.map { TimestampText.iso8601($0.now) },
            statuses: outcomes.map { $0.status.map(String.init) }, errors: outcomes.map(\.error), workers: outcomes.map { _ in worker })
        let closed = try await store.pool.query(closing.query(seenAt: outcomes.map(\.now).max() ?? Date(), skippingLocked: true))
        return try closed.map { try $0.decode(String.self, at: 0) }
    }

    /// The earliest time a pending notification is due or its lease runs out.
    func nextDue() async throws -> Date? {
        let rows = try await store.pool.query(
            "SELECT min(greatest(next_attempt_at, coalesce(leased_until, next_attempt_at))) FROM nt_deliveries WHERE state = 'pending'")
        return try rows.first?.decode(Date?.self, at: 0)
    }
}

/// Rows to close with their outcomes, and the worker each outcome is counted for. Whoever closes a
/// row (the worker that recorded the outcome, or the feed when it reads the outcome first) counts
/// it for the worker named in the outcome, so `nt_workers` counts each outcome once.
struct ClosedRows {
    var ids: [String] = []
    var states: [String] = []
    var at: [String] = []
    var statuses: [String?] = []
    var errors: [String?] = []
    var workers: [String] = []

    /// The key of an outcome event's metadata naming the worker that recorded it.
    static let workerKey = "notification.worker"

    var isEmpty: Bool { ids.isEmpty }

    mutating func append(id: String, state: String, at date: Date, worker: String) {
        ids.append(id)
        states.append(state)
        at.append(TimestampText.iso8601(date))
        statuses.append(nil)
        errors.append(nil)
        workers.append(worker)
    }

    /// Closes the rows still pending, counts them and returns their ids; `seenAt` marks the workers
    /// as seen then.
    ///
    /// Rows are locked in id order first, so that the recorder and the feed closing the same rows
    /// at once (the feed reads an outcome between its append and the recorder's close) never
    /// deadlock; and the recorder (`skippingLocked`) leaves a row another closes at that moment to
    /// it: whoever closes a row counts it. The feed waits instead, so no outcome it read is left
    /// pending.
    func query(seenAt: Date, skippingLocked: Bool = false) -> PostgresQuery {
        let lock: PostgresQuery = skippingLocked ? "FOR UPDATE SKIP LOCKED" : "FOR UPDATE"
        return """
            WITH c AS (
                SELECT * FROM unnest(\(PostgresArray(ids))::text[], \(PostgresArray(states))::text[], \(PostgresArray(at))::text[],
                                     \(PostgresArray(statuses))::text[], \(PostgresArray(errors))::text[], \(PostgresArray(workers))::text[])
                    AS c(id, state, at, status, error, worker)
            ), locked AS (
                SELECT d.notification_id FROM nt_deliveries d
                WHERE d.notification_id IN (SELECT c.id FROM c) AND d.state = 'pending'
                ORDER BY d.notification_id \(lock)
            ), closed AS (
                UPDATE nt_deliveries d SET state = c.state, closed_at = c.at::timestamptz, leased_by = NULL, leased_until = NULL,
                    last_status = coalesce(c.status::int, d.last_status), last_error = coalesce(c.error, d.last_error)
                FROM c JOIN locked l ON l.notification_id = c.id
                WHERE d.notification_id = c.id AND d.state = 'pending'
                RETURNING c.id, c.state, c.worker
            ), counted AS (
                INSERT INTO nt_workers (worker, started_at, seen_at, delivered, failed, suppressed)
                SELECT w.worker, \(seenAt), \(seenAt), count(c.state) FILTER (WHERE c.state = 'delivered'), count(c.state) FILTER (WHERE c.state = 'failed'),
                       count(c.state) FILTER (WHERE c.state = 'suppressed')
                FROM (SELECT DISTINCT unnest(\(PostgresArray(workers))::text[]) AS worker) w LEFT JOIN closed c ON c.worker = w.worker
                GROUP BY w.worker
                ON CONFLICT (worker) DO UPDATE SET seen_at = greatest(nt_workers.seen_at, excluded.seen_at), delivered = nt_workers.delivered + excluded.delivered,
                    failed = nt_workers.failed + excluded.failed, suppressed = nt_workers.suppressed + excluded.suppressed
            )
            SELECT id FROM closed
            """
    }
}
