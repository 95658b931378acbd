import Foundation
import Logging
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Fires due deadlines: claims them with `FOR UPDATE SKIP LOCKED` (so instances never claim the
/// same one), decides their events and appends them to the journey's stream (a consent subject's,
/// `fireConsent`) with ids derived from the deadline, and marks them fired, all in one transaction.
///
/// A deadline fires only while the scheduler's watch has folded the journey's every event: the
/// stream's version must equal the watch's, and the append expects exactly that version. A journey
/// that progressed meanwhile is left for the scheduler, which cancels or moves its deadlines.
struct DeadlineFiring: Sendable {
    let store: EventStore
    let settings: ProcessManagerSettings
    let codec: EventCodec
    let instance: String
    let time: WallTime
    let batchSize: Int
    let logger: Logger

    struct Round: Sendable {
        var claimed = 0
        var fired = 0
        /// Due, but the scheduler has not folded the journey's latest events yet.
        var behind = 0
        /// A claim took as many as it could: more may be due.
        var full = false
    }

    private struct Claimed {
        var id: String
        var version: Int
        var deadline: Deadline
        var watchVersion: Int64
        var priority: Int
    }

    /// Fires what is due by `frontier` (at the latest now), up to `batchSize` deadlines, in one
    /// transaction.
    func fireDue(upTo frontier: Date) async throws -> Round {
        let now = time.now()
        let limit = min(frontier, now)
        // Before the scheduler has reached any head, nothing may fire (and `distantPast` is no timestamptz).
        guard limit > Date(timeIntervalSince1970: 0) else { return Round() }
        return try await store.transaction { transaction in
            let rows = try await transaction.query(
                """
                SELECT d.deadline_id, d.version, d.deadline::text, w.version, coalesce((w.watch->>'priority')::int, 0)
                FROM pm_deadlines d JOIN pm_watches w ON w.journey_id = d.journey_id
                WHERE d.state = 'pending' AND d.journey_id IS NOT NULL AND d.due_at <= \(limit)
                ORDER BY d.due_at, d.deadline_id LIMIT \(batchSize)
                FOR UPDATE OF d SKIP LOCKED
                """)
            var round = Round(claimed: rows.count)
            var byJourney: [String: [Claimed]] = [:]
            var order: [String] = []
            for row in rows {
                let (id, version, text, watchVersion, priority) = try row.decode(String.self, Int.self, String.self, Int64.self, Int.self)
                let deadline = try StoredJSON.decode(Deadline.self, text)
                if byJourney[deadline.journeyId] == nil { order.append(deadline.journeyId) }
                byJourney[deadline.journeyId, default: []].append(
                    Claimed(id: id, version: version, deadline: deadline, watchVersion: watchVersion, priority: priority))
            }
            var fired: [Claimed] = []
            let versions = try await transaction.streamVersions(order.map(JourneyDecider.streamName))
            for journeyId in order {
                let claimed = byJourney[journeyId]!
                let stream = JourneyDecider.streamName(journeyId)
                let current = versions[stream] ?? 0
                guard current == claimed[0].watchVersion else {
                    round.behind += claimed.count
                    continue
                }
                try await transaction.append(to: stream, expected: .exact(current), events: try events(for: claimed, at: now))
                fired += claimed
            }
            var marked = fired.map { (id: $0.id, version: $0.version) }
            // Consent deadlines get at least a quarter of every round: a backlog of journeys'
            // deadlines (after downtime) must not hold them back until it is worked off.
            let consentLimit = max(batchSize / 4, batchSize - rows.count)
            let consent = try await fireConsent(upTo: limit, at: now, limit: consentLimit, in: transaction)
            round.full = rows.count == batchSize || consent.claimed == consentLimit
            round.claimed += consent.claimed
            round.behind += consent.behind
            marked += consent.fired
            try await markFired(marked, at: now, in: transaction)
            round.fired = marked.count
            return round
        }
    }

    /// The events of a journey's claimed deadlines, in the order of their due times; at one
    /// instant facts come before the escalations they lead to (a crossing, then its level).
    private func events(for claimed: [Claimed], at now: Date) throws -> [EventData] {
        var priority = claimed[0].priority
        var out: [EventData] = []
        let ordered = claimed.sorted { ($0.deadline.dueAt, $0.deadline.rank) < ($1.deadline.dueAt, $1.deadline.rank) }
        for item in ordered {
            let metadata = EventMetadata(
                correlationId: item.deadline.journeyId, causationId: item.deadline.id, actor: "process-manager", sourceSystem: "waymark", occurredAt: now)
            let events = item.deadline.events(firedAt: now, instance: instance, priority: priority, settings: settings)
            for (index, event) in events.enumerated() {
                if case .priorityRaised(let raised) = event { priority = raised.priority }
                out.append(EventData(id: item.deadline.eventId(index), type: event.type, data: try event.encode(with: codec, subject: nil), metadata: metadata))
            }
            // An escalation that notifies requests its notification in the same append (the outbox).
            if case .escalationRaised(let raised) = events.first,
                let request = raised.notificationRequest(
                    eventId: item.deadline.eventId(0), journey: item.deadline.journeyContext, locale: settings.notificationLocale)
            {
                let event = NotificationEvent.requested(request)
                out.append(
                    EventData(
                        id: item.deadline.eventId(events.count), type: event.type, data: try event.encode(with: codec, subject: nil), metadata: metadata))
            }
        }
        return out
    }

    private func markFired(_ fired: [(id: String, version: Int)], at now: Date, in transaction: Transaction) async throws {
        guard !fired.isEmpty else { return }
        try await transaction.execute(
            """
            UPDATE pm_deadlines d SET state = 'fired', closed_at = \(now), fired_by = \(instance),
                lateness = greatest(\(now) - d.due_at, interval '0'), stale = \(now) - d.due_at > make_interval(secs => \(Double(settings.staleAfterSeconds)))
            FROM unnest(\(PostgresArray(fired.map(\.id)))::text[], \(PostgresArray(fired.map { String($0.version) }))::int[]) AS f(id, version)
            WHERE d.deadline_id = f.id AND d.version = f.version
            """)
        try await transaction.execute(
            """
            INSERT INTO pm_instances (instance, started_at, seen_at, fired) VALUES (\(instance), \(now), \(now), \(fired.count))
            ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at, fired = pm_instances.fired + excluded.fired
            """)
    }

    /// The earliest due time of a pending deadline, if any.
    func nextDue() async throws -> Date? {
        let rows = try await store.pool.query("SELECT min(due_at) FROM pm_deadlines WHERE state = 'pending'")
        return try rows.first?.decode(Date?.self, at: 0)
    }
}

extension Deadline {
    /// Facts first (thresholds by share, stalls), then escalations by level.
    fileprivate var rank: Int {
        switch kind {
        case .slaThreshold: return percent ?? 100
        case .stageStall, .handoffOLA: return 200
        case .escalationLevel, .lowScore, .compensations: return 300 + (level ?? 0)
        }
    }
}
