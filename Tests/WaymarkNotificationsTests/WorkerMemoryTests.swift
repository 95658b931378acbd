import Foundation
import Testing
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkNotifications

/// A worker's memory of the requests its feed read and the outcomes its recorder closed: a
/// shortcut that must never change what is delivered or closed.
@Suite(.scaledTimeLimit(minutes: 2)) struct WorkerMemoryTests {
    @Test("a claim takes the request the feed read; one it did not read, or whose row holds another request event, comes from the row")
    func claimUsesRememberedRequests() async throws {
        let fixture = try await DeliveryFixture.make()
        let store = fixture.store
        try await NotificationSchema.migrate(store.pool, schema: store.schema, logger: TestDatabase.quietLogger)
        let remembered = try await fixture.request(.role("desk"), cause: "remembered")
        let unread = try await fixture.request(.role("desk"), cause: "unread")
        let replaced = try await fixture.request(.role("desk"), cause: "replaced")
        for (request, eventId) in [
            (remembered, NotificationEvent.requestEventId(notificationId: remembered.notificationId)),
            (unread, NotificationEvent.requestEventId(notificationId: unread.notificationId)),
            // A row whose request is another event than the one the memory holds.
            (replaced, UUID()),
        ] {
            let text = try NotificationEvent.requested(request).encode(with: .standard, subject: nil)
            try await store.pool.query(
                """
                INSERT INTO nt_deliveries (notification_id, stream, request, request_event_id, requested_at, state, next_attempt_at)
                VALUES (\(request.notificationId), 'journey-j-1', \(text)::jsonb, \(eventId), now() - interval '1 second', 'pending', now() - interval '1 second')
                """)
        }
        // What the memory holds differs from the rows' copies, so the test sees where each came from.
        func marked(_ request: NotificationEvent.Requested) -> NotificationEvent.Requested {
            var request = request
            request.variables["reason"] = .text("from memory")
            return request
        }
        let memory = WorkerMemory()
        memory.remember([marked(remembered), marked(replaced)])
        let table = DeliveryTable(store: store, codec: .standard, worker: "w1")
        let claimed = try await table.claim(limit: 10, now: Date(), lease: .seconds(30), memory: memory)
        let byId = Dictionary(uniqueKeysWithValues: claimed.map { ($0.request.notificationId, $0) })
        #expect(byId.count == 3 && claimed.allSatisfy { $0.attempt == 1 && $0.stream == "journey-j-1" })
        #expect(byId[remembered.notificationId]?.request == marked(remembered), "the feed's copy, not decoded again")
        #expect(byId[unread.notificationId]?.request == unread, "read from the row")
        #expect(byId[replaced.notificationId]?.request == replaced, "the row's request event is not the remembered one")
    }

    @Test("the feed passes over outcomes the recorder closed, and closes those it did not, or when it reads them again")
    func feedPassesOverClosedOutcomes() async throws {
        let fixture = try await DeliveryFixture.make()
        let store = fixture.store
        try await NotificationSchema.migrate(store.pool, schema: store.schema, logger: TestDatabase.quietLogger)
        let memory = WorkerMemory()
        let feed = OutboxFeed(codec: .standard, memory: memory, channel: DeliveryWorker.channel(store), fed: ChangeSignal())
        let first = try await fixture.request(.role("desk"), cause: "first")
        let second = try await fixture.request(.role("desk"), cause: "second")
        try await store.transaction { transaction in try await feed.handle(try await store.readStream("journey-j-1").events, in: transaction) }
        #expect(memory.request(first.notificationId, eventId: NotificationEvent.requestEventId(notificationId: first.notificationId)) == first)
        let outcomes = try [first, second].map { request in
            let event = NotificationEvent.delivered(
                .init(notificationId: request.notificationId, attempts: 1, channel: "log", endpoint: nil, status: nil, deliveredAt: Date()))
            return EventData(
                id: NotificationEvent.outcomeEventId(notificationId: request.notificationId), type: event.type,
                data: try event.encode(with: .standard, subject: nil), metadata: EventMetadata(actor: "notifications", extra: [ClosedRows.workerKey: "w1"]))
        }
        try await store.append(to: "journey-j-1", events: outcomes)
        // As if the recorder had closed the first (its row is left pending here, to show the feed
        // does not touch it).
        memory.closed([first.notificationId])
        #expect(memory.request(first.notificationId, eventId: NotificationEvent.requestEventId(notificationId: first.notificationId)) == nil)
        let read = Array(try await store.readStream("journey-j-1").events.suffix(2))
        try await store.transaction { transaction in try await feed.handle(read, in: transaction) }
        #expect(try await fixture.row(first.notificationId)?.state == "pending", "passed over")
        #expect(try await fixture.row(second.notificationId)?.state == "delivered")
        // A batch that runs again finds nothing remembered, and closes it.
        try await store.transaction { transaction in try await feed.handle(read, in: transaction) }
        #expect(try await fixture.row(first.notificationId)?.state == "delivered")
    }

    @Test("the memory holds at most its capacity, the newest entries kept")
    func bounded() {
        var map = Generations<Int, Int>(capacity: 100)
        for key in 0..<1_000 { map.insert(key, key * 2) }
        #expect(map.count <= 100)
        #expect((950..<1_000).allSatisfy { map.value($0) == $0 * 2 })
        #expect(map.value(0) == nil)
        map.insert(999, 1)
        #expect(map.value(999) == 1 && map.remove(999) == 1 && map.value(999) == nil, "one entry per key")
    }
}
