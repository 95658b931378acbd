import Foundation
import Logging
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Keeps `nt_deliveries` from the log: a `NotificationRequested` adds a pending row, an outcome
/// (suppressed at delivery, delivered, failed) closes it. Runs as the handler of the subscription
/// `notifications:outbox`, in the transaction that moves its checkpoint, so the table is exactly
/// what the log says up to the checkpoint.
struct OutboxFeed: Sendable {
    let codec: EventCodec
    let memory: WorkerMemory
    let channel: String
    let fed: ChangeSignal

    /// The worker an outcome is counted for: the one its metadata names, else the actor.
    private func worker(of recorded: RecordedEvent) -> String {
        recorded.metadata.extra[ClosedRows.workerKey] ?? recorded.metadata.actor ?? "unknown"
    }

    func handle(_ events: [RecordedEvent], in transaction: Transaction) async throws {
        var ids: [String] = []
        var streams: [String] = []
        var requests: [String] = []
        var eventIds: [String] = []
        var requestedAt: [String] = []
        var read: [NotificationEvent.Requested] = []
        var closed = ClosedRows()
        for recorded in events where NotificationEvent.storedTypes.contains(recorded.type) {
            // An outcome this process's recorder wrote and closed: its row is closed already.
            if recorded.type != NotificationEvent.requestedType, memory.takeClosedOutcome(recorded.id) { continue }
            guard let event = try NotificationEvent.decode(type: recorded.type, data: recorded.data, codec: codec) else { continue }
            switch event {
            case .requested(let request):
                ids.append(request.notificationId)
                streams.append(recorded.streamName)
                requests.append(recorded.data)
                eventIds.append(recorded.id.uuidString)
                requestedAt.append(TimestampText.iso8601(request.requestedAt))
                read.append(request)
            case .suppressed(let suppressed):
                // Suppressed at request: there is no row to close.
                guard suppressed.check == .atDelivery else { continue }
                closed.append(id: suppressed.notificationId, state: "suppressed", at: suppressed.decidedAt, worker: worker(of: recorded))
            case .delivered(let delivered):
                closed.append(id: delivered.notificationId, state: "delivered", at: delivered.deliveredAt, worker: worker(of: recorded))
            case .failed(let failed):
                closed.append(id: failed.notificationId, state: "failed", at: failed.failedAt, worker: worker(of: recorded))
            }
        }
        if !ids.isEmpty {
            try await transaction.execute(
                """
                INSERT INTO nt_deliveries (notification_id, stream, request, request_event_id, requested_at, state, next_attempt_at)
                SELECT r.id, r.stream, r.request::jsonb, r.event_id::uuid, r.at::timestamptz, 'pending', r.at::timestamptz
                FROM unnest(\(PostgresArray(ids))::text[], \(PostgresArray(streams))::text[], \(PostgresArray(requests))::text[],
                            \(PostgresArray(eventIds))::text[], \(PostgresArray(requestedAt))::text[]) AS r(id, stream, request, event_id, at)
                ON CONFLICT (notification_id) DO NOTHING
                """)
            try await transaction.execute("SELECT pg_notify(\(channel), 'requested')")
            let (fed, memory, read) = (self.fed, self.memory, read)
            transaction.afterCommit {
                memory.remember(read)
                fed.bump()
            }
        }
        if !closed.isEmpty {
            // The worker that recorded the outcome closed the row already, unless this read the
            // outcome first, or another process recorded it, or the table is derived again.
            try await transaction.execute(closed.query(seenAt: events.last?.occurredAt ?? Date()))
        }
    }
}
