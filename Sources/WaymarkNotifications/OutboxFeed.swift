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
    let channel: String
    let fed: ChangeSignal

    func handle(_ events: [RecordedEvent], in transaction: Transaction) async throws {
        var ids: [String] = []
        var streams: [String] = []
        var requests: [String] = []
        var eventIds: [String] = []
        var requestedAt: [String] = []
        var closedIds: [String] = []
        var closedStates: [String] = []
        var closedAt: [String] = []
        for recorded in events where NotificationEvent.storedTypes.contains(recorded.type) {
            guard let event = try NotificationEvent.decode(type: recorded.type, data: recorded.data, codec: codec) else { continue }
            switch event {
            case .requested(let request):
                ids.append(request.notificationId)
                streams.append(recorded.streamName)
                requests.append(recorded.data)
                eventIds.append(recorded.id.uuidString)
                requestedAt.append(TimestampText.iso8601(request.requestedAt))
            case .suppressed(let suppressed):
                // Suppressed at request: there is no row to close.
                guard suppressed.check == .atDelivery else { continue }
                closedIds.append(suppressed.notificationId)
                closedStates.append("suppressed")
                closedAt.append(TimestampText.iso8601(suppressed.decidedAt))
            case .delivered(let delivered):
                closedIds.append(delivered.notificationId)
                closedStates.append("delivered")
                closedAt.append(TimestampText.iso8601(delivered.deliveredAt))
            case .failed(let failed):
                closedIds.append(failed.notificationId)
                closedStates.append("failed")
                closedAt.append(TimestampText.iso8601(failed.failedAt))
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
            let fed = self.fed
            transaction.afterCommit { fed.bump() }
        }
        if !closedIds.isEmpty {
            // The worker that recorded the outcome closed the row already; this closes it when
            // another process recorded it, or when the table is derived again.
            try await transaction.execute(
                """
                UPDATE nt_deliveries d SET state = c.state, closed_at = c.at::timestamptz, leased_by = NULL, leased_until = NULL
                FROM unnest(\(PostgresArray(closedIds))::text[], \(PostgresArray(closedStates))::text[], \(PostgresArray(closedAt))::text[]) AS c(id, state, at)
                WHERE d.notification_id = c.id AND d.state = 'pending'
                """)
        }
    }
}
