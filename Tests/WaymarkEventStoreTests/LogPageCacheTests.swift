import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkEventStore

@Suite("Shared log pages")
struct LogPageCacheTests {
    @Test("subscriptions sharing pages each get exactly their events in global order, also while the log grows", arguments: [false, true])
    func sharedPagesDeliverExactly(paced: Bool) async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 10)
        defer { Task { await store.close() } }
        try await store.pool.query("CREATE TABLE seen_by (subscriber text NOT NULL, event_id uuid NOT NULL, PRIMARY KEY (subscriber, event_id))")
        let categories = ["journey", "customer", "consent", "billing"]
        func appendSome(_ round: Int) async throws {
            // Several streams per transaction, so that pages end inside transactions too.
            try await store.transaction { tx in
                for index in 0..<7 {
                    let category = categories[(round + index) % categories.count]
                    try await tx.append(to: "\(category)-\(round % 5)x\(index)", events: [event(), event()])
                }
            }
        }
        for round in 0..<40 { try await appendSome(round) }

        let sources: [(String, SubscriptionSource, Int)] = [
            ("journeys", .category("journey"), 7), ("people", .categories(["customer", "journey"]), 11), ("consents", .category("consent"), 5),
        ]
        // Little room: pages are read again and kept only once the slowest reader has passed.
        let pages = LogPageCache(source: .union(sources.map(\.1)), capacity: 40)
        let delivered = Locked<[String: [RecordedEvent]]>([:])
        let subscriptions = try sources.map { name, source, batchSize in
            try CatchUpSubscription(
                store: store, name: name, source: source, batchSize: batchSize, pages: pages, paced: paced, logger: TestDatabase.quietLogger
            ) {
                events, transaction in
                try await transaction.query(
                    "INSERT INTO seen_by SELECT \(name), unnest(\(PostgresArray(events.map { $0.id.uuidString }))::uuid[])")
                transaction.afterCommit { delivered.withLock { $0[name, default: []] += events } }
            }
        }
        let reached = try await withServices(subscriptions) {
            for round in 40..<80 { try await appendSome(round) }
            var all = true
            for subscription in subscriptions { all = try await caughtUp(subscription, of: store, timeout: .seconds(60)) && all }
            return all
        }
        #expect(reached)
        let log = try await store.readAll(limit: 10_000).events
        #expect(log.count == 80 * 14)
        for (name, source, _) in sources {
            let wanted = log.filter {
                switch source {
                case .category(let category): return $0.category == category
                case .categories(let categories): return categories.contains($0.category)
                case .all: return true
                }
            }
            #expect(delivered.value[name]?.map(\.id) == wanted.map(\.id), "\(name)")
            let stored = try await store.pool.query("SELECT count(*) FROM seen_by WHERE subscriber = \(name)")[0].decode(Int.self, at: 0)
            #expect(stored == wanted.count, "\(name)")
        }
        #expect(pages.usage.served > 0 && pages.usage.pagesRead > 0)
        // Every subscription stopped: no page is held any more.
        #expect(pages.count == 0)
    }

    @Test("an idle subscription to one category passes other categories' events on shared pages without writing its checkpoint")
    func idleCategoryWritesNothing() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        for index in 0..<5 { try await store.append(to: "journey-\(index)", events: [event()]) }
        let pages = LogPageCache(source: .categories(["customer", "journey"]))
        let delivered = Locked<[RecordedEvent]>([])
        // On a test clock that never moves it looks only when woken, and a sleeper on it is idle.
        let clock = TestClock()
        let subscription = try CatchUpSubscription(
            store: store, name: "journeys", source: .category("journey"), pages: pages, clock: clock, logger: TestDatabase.quietLogger
        ) {
            events, _ in delivered.withLock { $0 += events }
        }
        try await withServices([subscription]) {
            try await eventually(
                "delivered.value.count == 5",
                observing: {
                    clock.advance(by: .milliseconds(5))
                    return delivered.value.count
                }, until: { $0 == 5 })
            let before = try await store.pool.query("SELECT updated_at::text FROM subscription_checkpoints WHERE subscription_name = 'journeys'")[0].decode(
                String.self, at: 0)
            let served = pages.usage.served
            for index in 0..<30 { try await store.append(to: "customer-\(index)", events: [event()]) }
            // It looked at them: pages served it again.
            try await eventually("pages.usage.served > served", observing: { pages.usage.served }, until: { $0 > served })
            // Idle again: whatever it did with them is done (the appends were all made before).
            try await eventually("the subscription to idle", observing: { clock.sleepers }, until: { $0 == 1 })
            let after = try await store.pool.query("SELECT updated_at::text FROM subscription_checkpoints WHERE subscription_name = 'journeys'")[0].decode(
                String.self, at: 0)
            #expect(after == before, "no checkpoint write for other categories' events")
            #expect(try await subscription.checkpoint() == delivered.value.last!.position)
            try await store.append(to: "journey-late", events: [event()])
            // Time moves from here: a read held back by another test's open transaction is retried.
            try await eventually(
                "delivered.value.count == 6",
                observing: {
                    clock.advance(by: .milliseconds(5))
                    return delivered.value.count
                }, until: { $0 == 6 })
            try await eventually(
                "try await subscription.checkpoint() == delivered.value.last!.position", observing: { try await subscription.checkpoint() },
                until: { $0 == delivered.value.last!.position })
        }
        #expect(delivered.value.map(\.streamName).last == "journey-late")
    }

    @Test("a page serves the sources it covers from a position inside it, and is dropped once every reader has passed it")
    func pagesServeAndDrop() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        for index in 0..<12 { try await store.append(to: "\(index % 3 == 0 ? "consent" : "journey")-\(index)", events: [event()]) }
        try await eventually(
            "try await store.readAll(limit: 100).events.count == 12", observing: { try await store.readAll(limit: 100).events.count }, until: { $0 == 12 })
        let log = try await store.readAll(limit: 100)
        let pages = LogPageCache(source: .categories(["consent", "journey"]), capacity: 12)
        #expect(pages.hasRoom(for: .category("journey")))
        #expect(!pages.hasRoom(for: .category("billing")) && !pages.hasRoom(for: .all))

        pages.move("reader", to: .start)
        pages.insert(LogPageCache.Page(after: .start, slice: log), after: .start)
        #expect(pages.count == 12 && !pages.hasRoom(for: .category("journey")))
        // From the third event on, journeys only, at most three: the slice stops at the third.
        let third = log.events[2].position
        let slice = try #require(pages.slice(of: .category("journey"), after: third, limit: 3))
        let journeys = log.events.filter { $0.position > third && $0.category == "journey" }
        #expect(slice.events.map(\.id) == journeys.prefix(3).map(\.id))
        #expect(slice.nextPosition == journeys[2].position && !slice.isEnd)
        // To the page's end: not the end of the log, which may have grown since.
        let rest = try #require(pages.slice(of: .category("consent"), after: third, limit: 100))
        #expect(rest.events.map(\.id) == log.events.filter { $0.position > third && $0.category == "consent" }.map(\.id))
        #expect(rest.nextPosition == log.nextPosition && !rest.isEnd)
        #expect(pages.slice(of: .category("billing"), after: third, limit: 100) == nil)
        #expect(pages.slice(of: .category("journey"), after: log.nextPosition, limit: 100) == nil)

        // Kept while a reader is behind its end; dropped when the last one passes or leaves.
        pages.move("other", to: third)
        pages.move("reader", to: log.nextPosition)
        #expect(pages.count == 12)
        pages.leave("other")
        #expect(pages.count == 0 && pages.hasRoom(for: .category("journey")))
        #expect(pages.usage == LogPageCache.Usage(served: 2, pagesRead: 1))
    }

    @Test("with no page at its position a reader reads one for the others, waits for one, or reads alone")
    func plansWithoutPage() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        for index in 0..<12 { try await store.append(to: "journey-\(index)", events: [event()]) }
        try await eventually(
            "try await store.readAll(limit: 100).events.count == 12", observing: { try await store.readAll(limit: 100).events.count }, until: { $0 == 12 })
        let log = try await store.readAll(limit: 100)
        let pages = LogPageCache(source: .category("journey"), capacity: 12)
        let journeys = SubscriptionSource.category("journey")
        #expect(pages.plan("a", for: .category("billing"), at: .start, paced: true, mayWait: true) == .readOwn)

        pages.move("a", to: .start)
        pages.move("b", to: .start)
        #expect(pages.plan("a", for: journeys, at: .start, paced: false, mayWait: true) == .readPage)
        // The same page is being read: the other waits for it, or reads alone once it may not wait.
        #expect(pages.plan("b", for: journeys, at: .start, paced: false, mayWait: true) == .wait)
        #expect(pages.plan("b", for: journeys, at: .start, paced: true, mayWait: false) == .readOwn)
        pages.insert(LogPageCache.Page(after: .start, slice: log), after: .start)
        #expect(pages.slice(of: journeys, after: .start, limit: 100)?.events.count == 12)

        // Full: the slowest reads the next page all the same; one ahead waits if paced, else reads alone.
        let middle = log.events[5].position
        pages.move("a", to: log.nextPosition)
        pages.move("b", to: middle)
        #expect(pages.count == 12 && !pages.hasRoom(for: journeys))
        #expect(pages.plan("a", for: journeys, at: log.nextPosition, paced: true, mayWait: true) == .wait)
        #expect(pages.plan("a", for: journeys, at: log.nextPosition, paced: true, mayWait: false) == .readOwn)
        #expect(pages.plan("a", for: journeys, at: log.nextPosition, paced: false, mayWait: true) == .readOwn)
        pages.move("b", to: log.nextPosition)
        #expect(pages.count == 0)
        #expect(pages.plan("a", for: journeys, at: log.nextPosition, paced: true, mayWait: true) == .readPage)
        // A failed read ends the read without a page.
        pages.insert(nil, after: log.nextPosition)
        #expect(pages.plan("b", for: journeys, at: log.nextPosition, paced: true, mayWait: true) == .readPage)
    }

    @Test("a read of only occurredAt leaves the other metadata out; pages serve a subscription only the fields they hold")
    func metadataFields() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 10)
        defer { Task { await store.close() } }
        let occurred = Date(timeIntervalSince1970: 1_790_000_000.25)
        let metadata = EventMetadata(correlationId: "corr", causationId: "cause", actor: "ann", sourceSystem: "crm", occurredAt: occurred, extra: ["k": "v"])
        for index in 0..<4 {
            try await store.append(to: "journey-\(index)", events: [EventData(type: "Noted", data: #"{"n":\#(index)}"#, metadata: metadata)])
        }
        try await eventually(
            "try await store.readAll(limit: 100).events.count == 4", observing: { try await store.readAll(limit: 100).events.count }, until: { $0 == 4 })
        for lean in [
            try await store.readAll(limit: 100, metadata: .occurredAt), try await store.readCategory("journey", limit: 100, metadata: .occurredAt),
            try await store.readCategories(["journey", "customer"], limit: 100, metadata: .occurredAt),
        ] {
            #expect(lean.events.count == 4)
            #expect(lean.events.allSatisfy { $0.metadata == EventMetadata(occurredAt: occurred) && $0.occurredAt == occurred })
            #expect(lean.events.map(\.data) == (0..<4).map { #"{"n": \#($0)}"# })
        }
        #expect(try await store.readAll(limit: 100).events.allSatisfy { $0.metadata == metadata })

        // Lean pages: a subscription wanting every field reads alone and gets them.
        let pages = LogPageCache(source: .category("journey"), metadata: .occurredAt)
        let delivered = Locked<[String: [RecordedEvent]]>([:])
        let subscriptions = try [("lean", MetadataFields.occurredAt), ("full", .all)].map { name, fields in
            try CatchUpSubscription(store: store, name: name, source: .category("journey"), pages: pages, metadata: fields, logger: TestDatabase.quietLogger) {
                events, transaction in transaction.afterCommit { delivered.withLock { $0[name, default: []] += events } }
            }
        }
        let both = try await withServices(subscriptions) {
            try await eventually("four events delivered to each subscription") { delivered.value["lean"]?.count == 4 && delivered.value["full"]?.count == 4 }
        }
        #expect(both)
        #expect(delivered.value["lean"]!.allSatisfy { $0.metadata == EventMetadata(occurredAt: occurred) })
        #expect(delivered.value["full"]!.allSatisfy { $0.metadata == metadata })
        #expect(pages.usage.pagesRead > 0)
    }

    @Test("a value derived from an event is made once per copy and shared; nil and other types are not kept")
    func derivedValues() throws {
        final class Box: Sendable {
            let text: String
            init(_ text: String) { self.text = text }
        }
        final class Other: Sendable {}
        let event = RecordedEvent(
            id: UUID(), streamName: "journey-1", streamVersion: 1, position: GlobalPosition(transactionId: 1, sequence: 1), type: "T", data: "{}",
            metadata: EventMetadata(), recordedAt: Date())
        let makes = Locked(0)
        let make = { (recorded: RecordedEvent) -> Box in
            makes.withLock { $0 += 1 }
            return Box(recorded.type)
        }
        #expect(event.derived { _ -> Box? in nil } == nil)
        let first = event.derived(make)
        let copy = event
        let second: Box? = copy.derived(make)
        let shared = second === first
        #expect(shared)
        #expect(makes.value == 1)
        // Another type is made each time, and the first value stays.
        let others: [Other?] = [event.derived { _ in Other() }, event.derived { _ in Other() }]
        let again: Box? = event.derived(make)
        let otherKept = others[0] === others[1]
        let firstKept = again === first
        #expect(!otherKept && firstKept)
        #expect(makes.value == 1)
        let twin = RecordedEvent(
            id: event.id, streamName: event.streamName, streamVersion: 1, position: event.position, type: "T", data: "{}", metadata: EventMetadata(),
            recordedAt: event.recordedAt)
        let twins: Box? = twin.derived(make)
        let twinShares = twins === first
        #expect(!twinShares && makes.value == 2)
    }

    @Test("the union of sources covers each of them")
    func unionOfSources() {
        #expect(SubscriptionSource.union([.category("journey"), .categories(["customer", "journey"])]) == .categories(["customer", "journey"]))
        #expect(SubscriptionSource.union([.category("journey"), .category("journey")]) == .category("journey"))
        #expect(SubscriptionSource.union([.category("journey"), .all]) == .all)
    }
}
