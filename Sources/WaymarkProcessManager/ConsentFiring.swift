import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

extension DeadlineFiring {
    struct ConsentRound {
        var claimed = 0
        var behind = 0
        var fired: [(id: String, version: Int)] = []
    }

    /// Fires the consent propagation deadlines due by `frontier`, up to `limit`, in the caller's
    /// transaction (which marks them fired): claimed like the journeys', each subject's appended
    /// to its consent stream expecting exactly the version its watch folded. A subject whose
    /// stream moved on (a report, a new decision) is left for the scheduler.
    func fireConsent(upTo frontier: Date, at now: Date, limit: Int, in transaction: Transaction) async throws -> ConsentRound {
        let rows = try await transaction.query(
            """
            SELECT d.deadline_id, d.version, d.deadline::text, w.version
            FROM pm_deadlines d JOIN pm_consent_watches w ON w.subject_id = d.subject_id
            WHERE d.state = 'pending' AND d.subject_id IS NOT NULL AND d.due_at <= \(frontier)
            ORDER BY d.due_at, d.deadline_id LIMIT \(limit)
            FOR UPDATE OF d SKIP LOCKED
            """)
        var round = ConsentRound(claimed: rows.count)
        guard !rows.isEmpty else { return round }
        var bySubject: [String: [(id: String, version: Int, deadline: ConsentDeadline)]] = [:]
        var watchVersions: [String: Int64] = [:]
        for row in rows {
            let (id, version, text, watchVersion) = try row.decode(String.self, Int.self, String.self, Int64.self)
            let deadline = try StoredJSON.decode(ConsentDeadline.self, text)
            bySubject[deadline.subjectId, default: []].append((id, version, deadline))
            watchVersions[deadline.subjectId] = watchVersion
        }
        let subjects = bySubject.keys.sorted()
        let versions = try await transaction.streamVersions(subjects.map(ConsentDecider.streamName))
        for subject in subjects {
            let stream = ConsentDecider.streamName(subject)
            let current = versions[stream] ?? 0
            let claimed = bySubject[subject]!.sorted { ($0.deadline.dueAt, $0.id) < ($1.deadline.dueAt, $1.id) }
            guard current == watchVersions[subject] else {
                round.behind += claimed.count
                continue
            }
            let events = try claimed.map { item in
                let event = item.deadline.event(firedAt: now, instance: instance, settings: settings)
                let metadata = EventMetadata(
                    correlationId: item.deadline.decision.uuidString.lowercased(), causationId: item.deadline.id, actor: "process-manager",
                    sourceSystem: "waymark", occurredAt: now)
                return EventData(
                    id: item.deadline.eventId, type: event.type, data: try event.encode(with: codec, subject: subject), metadata: metadata)
            }
            try await transaction.append(to: stream, expected: .exact(current), events: events)
            round.fired += claimed.map { (id: $0.id, version: $0.version) }
        }
        return round
    }
}
