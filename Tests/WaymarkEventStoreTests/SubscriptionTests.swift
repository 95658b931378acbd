import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

/// A table the subscribers below write their effects into, in the subscription's transaction.
/// The primary key makes a duplicate delivery fail loudly.
func makeSeenTable(_ store: EventStore) async throws {
    try await store.pool.query(
        "CREATE TABLE seen (event_id uuid PRIMARY KEY, subscriber text NOT NULL, stream_name text NOT NULL, stream_version bigint NOT NULL)")
}

func seenCount(_ store: EventStore) async throws -> Int {
    try await store.pool.query("SELECT count(*) FROM seen")[0].decode(Int.self, at: 0)
}

func recordSeen(_ events: [RecordedEvent], by subscriber: String, on transaction: Transaction) async throws {
    try await transaction.query(
        "INSERT INTO seen (event_id, subscriber, stream_name, stream_version) SELECT * FROM unnest(\(PostgresArray(events.map { $0.id.uuidString }))::uuid[], \(PostgresArray(events.map { _ in subscriber }))::text[], \(PostgresArray(events.map(\.streamName)))::text[], \(PostgresArray(events.map { String($0.streamVersion) }))::int8[])"
    )
}

@Suite("Subscriptions")
struct SubscriptionTests {
    @Test("catches up from the checkpoint, goes live, and resumes where it stopped")
    func catchUpThenLive() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await makeSeenTable(store)
        for index in 0..<30 { try await store.append(to: "journey-\(index % 5)", events: [event()]) }
        try await store.append(to: "customer-1", events: [event()])

        let delivered = Locked<[RecordedEvent]>([])
        let subscription = try CatchUpSubscription(
            store: store, name: "milestones", source: .category("journey"), batchSize: 7, logger: TestDatabase.quietLogger
        ) { events, transaction in
            try await recordSeen(events, by: "milestones", on: transaction)
            delivered.withLock { $0 += events }
        }
        let running = Task { try await subscription.run() }
        try await eventually("seenCount(store) == 30", observing: { try await seenCount(store) }, until: { $0 == 30 })
        for index in 0..<10 { try await store.append(to: "journey-live\(index)", events: [event()]) }
        try await eventually("seenCount(store) == 40", observing: { try await seenCount(store) }, until: { $0 == 40 })
        running.cancel()
        try await running.value
        let events = delivered.value
        #expect(events.allSatisfy { $0.category == "journey" })
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.position < $1.position })
        #expect(try await subscription.checkpoint() == events.last!.position)

        // A new instance under the same name resumes after the checkpoint: nothing is redelivered.
        try await store.append(to: "journey-after", events: [event(), event()])
        let resumed = Locked<[RecordedEvent]>([])
        let second = try CatchUpSubscription(store: store, name: "milestones", source: .category("journey"), logger: TestDatabase.quietLogger) {
            events, transaction in
            try await recordSeen(events, by: "milestones", on: transaction)
            resumed.withLock { $0 += events }
        }
        let runningAgain = Task { try await second.run() }
        try await eventually("seenCount(store) == 42", observing: { try await seenCount(store) }, until: { $0 == 42 })
        runningAgain.cancel()
        try await runningAgain.value
        #expect(resumed.value.map(\.streamName) == ["journey-after", "journey-after"])
    }

    @Test("a failing handler rolls back its writes with the checkpoint; the batch comes again")
    func checkpointIsAtomicWithEffects() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await makeSeenTable(store)
        try await store.append(to: "journey-1", events: [event("Fine"), event("Poison"), event("Fine")])
        struct Poisoned: Error {}
        let failing = try CatchUpSubscription(store: store, name: "sla", batchSize: 10, logger: TestDatabase.quietLogger) { events, transaction in
            try await recordSeen(events, by: "sla", on: transaction)  // written, then rolled back
            if events.contains(where: { $0.type == "Poison" }) { throw Poisoned() }
        }
        await #expect(throws: Poisoned.self) { try await failing.run() }
        #expect(try await seenCount(store) == 0)
        #expect(try await failing.checkpoint() == .start)

        let healthy = try CatchUpSubscription(store: store, name: "sla", batchSize: 10, logger: TestDatabase.quietLogger) { events, transaction in
            try await recordSeen(events, by: "sla", on: transaction)
        }
        let running = Task { try await healthy.run() }
        try await eventually("seenCount(store) == 3", observing: { try await seenCount(store) }, until: { $0 == 3 })
        running.cancel()
        try await running.value
    }

    @Test("appends from another process wake a listening subscription without waiting for its poll")
    func crossProcessWakeUp() async throws {
        let writer = try await TestDatabase.freshStore()
        defer { Task { await writer.close() } }
        try await makeSeenTable(writer)
        // A second store with its own pool stands for another process: it shares no in-process signal.
        let reader = try TestDatabase.anotherProcess(sharing: writer)
        defer { Task { await reader.close() } }
        let clock = TestClock()
        let subscription = try CatchUpSubscription(
            store: reader, name: "remote", pollInterval: .seconds(300), clock: clock, logger: TestDatabase.quietLogger
        ) { events, transaction in
            try await recordSeen(events, by: "remote", on: transaction)
        }
        // The writer's store service announces its appends; the subscription runs beside it.
        try await withServices([writer, subscription]) {
            // Its listener, once LISTEN is in effect, wakes it (the reader's store appends nothing itself).
            try await eventually("the subscription to listen", observing: { reader.appended.generation }, until: { $0 > 0 })
            try await idleUntilPollsAreSecondsAway(clock, subscribers: 1)
            for round in 1...3 {
                try await writer.append(to: "journey-\(round)", events: [event()])
                try await eventually(
                    "round \(round) to be delivered",
                    observing: {
                        clock.advance(by: .milliseconds(2))
                        return try await seenCount(reader)
                    }, until: { $0 == round })
            }
        }
    }

    @Test("events a handler appends in its batch transaction wake other subscribers once it commits")
    func handlerAppendsWakeOthers() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        let other = try TestDatabase.anotherProcess(sharing: store)
        defer { Task { await other.close() } }
        // A process manager: for each journey event it emits a notice, in the batch's transaction.
        // It polls often: the journey events below are written so that nothing announces them.
        let manager = try CatchUpSubscription(
            store: store, name: "manager", source: .category("journey"), pollInterval: .milliseconds(50), logger: TestDatabase.quietLogger
        ) {
            events, transaction in
            for journeyEvent in events {
                try await transaction.append(
                    to: "notice-\(journeyEvent.streamName)", expected: .any,
                    events: [EventData(type: "NoticeRequested", data: "{}", metadata: .causedBy(journeyEvent))])
            }
        }
        // Downstream subscribers whose polls never come (a test clock that never moves): one in this
        // process, one in another.
        let local = Locked(0)
        let remote = Locked(0)
        let clock = TestClock()
        let downstream = try [(store, local), (other, remote)].enumerated().map { index, pair in
            try CatchUpSubscription(
                store: pair.0, name: "notices-\(index)", source: .category("notice"), pollInterval: .seconds(300), clock: clock,
                logger: TestDatabase.quietLogger
            ) {
                events, _ in pair.1.withLock { $0 += events.count }
            }
        }
        // The store service announces the manager's appends to the other process.
        try await withServices([store, manager] + downstream) {
            try await eventually("the other process to listen", observing: { other.appended.generation }, until: { $0 > 0 })
            try await idleUntilPollsAreSecondsAway(clock, subscribers: 2)
            for round in 1...2 {
                // An append by a SQL client: it announces nothing, so only the manager's own appends
                // can wake the downstream subscribers before their poll.
                try await other.query(
                    "SELECT * FROM append_events(\("journey-\(round)"), 'any', NULL, ARRAY[\(UUID())::uuid], ARRAY['HandoffStalled'], ARRAY['{}'::jsonb], ARRAY['{}'::jsonb])"
                )
                try await eventually("round \(round)") {
                    clock.advance(by: .milliseconds(2))
                    return local.withLock { $0 } == round && remote.withLock { $0 } == round
                }
            }
        }
    }

    @Test("an after-commit hook runs after COMMIT only, never after a rollback")
    func afterCommitHooks() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let ran = Locked<[String]>([])
        try await pool.withConnection { connection in
            #expect(!connection.afterCommit { ran.withLock { $0.append("outside") } })
            try await connection.transaction { connection in
                #expect(connection.afterCommit { ran.withLock { $0.append("committed") } })
                #expect(ran.withLock { $0 }.isEmpty)
            }
            await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    connection.afterCommit { ran.withLock { $0.append("rolled back") } }
                    try await connection.query("SELECT 1/0")
                }
            }
            try await connection.transaction { _ in }
        }
        #expect(ran.withLock { $0 } == ["committed"])
    }

    @Test("a subscription to several categories gets theirs in global order and its checkpoint passes the others' events")
    func severalCategories() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await makeSeenTable(store)
        for index in 0..<60 {
            let category = ["journey", "customer", "consent", "billing"][index % 4]
            try await store.append(to: "\(category)-\(index % 7)", events: [event()])
        }
        try await store.append(to: "billing-last", events: [event()])

        // Other tests' open transactions may hold readers back for a moment.
        try await eventually(
            "try await store.readAll(limit: 100).events.count == 61", observing: { try await store.readAll(limit: 100).events.count }, until: { $0 == 61 })
        // A full page holds the wanted events only, in global order, and the next one starts after
        // its last; the last page, short, ends where the log does, past other categories' events.
        let wanted = try await store.readAll(limit: 100).events.filter { ["consent", "customer"].contains($0.category) }
        #expect(wanted.count == 30)
        let page = try await store.readCategories(["consent", "customer", "consent"], limit: 8)
        #expect(page.events.map(\.id) == wanted.prefix(8).map(\.id))
        #expect(page.nextPosition == page.events.last!.position && !page.isEnd)
        let rest = try await store.readCategories(["customer", "consent"], after: page.nextPosition, limit: 100)
        #expect(rest.events.map(\.id) == wanted.dropFirst(8).map(\.id))
        let logEnd = try await store.readAll(limit: 100).nextPosition
        #expect(rest.isEnd && rest.nextPosition == logEnd)
        let beyond = try await store.readCategories(["customer", "consent"], after: rest.nextPosition)
        #expect(beyond.events.isEmpty && beyond.isEnd && beyond.nextPosition == rest.nextPosition)
        await #expect(throws: EventStoreError.self) { try await store.readCategories(["Bad-Category"]) }

        let delivered = Locked<[RecordedEvent]>([])
        let subscription = try CatchUpSubscription(
            store: store, name: "people", source: .categories(["consent", "customer"]), batchSize: 9, logger: TestDatabase.quietLogger
        ) { events, transaction in
            try await recordSeen(events, by: "people", on: transaction)
            delivered.withLock { $0 += events }
        }
        let reached = try await withServices([subscription]) { try await caughtUp(subscription, of: store, timeout: .seconds(20)) }
        #expect(reached)
        let all = try await store.readAll(limit: 100).events
        let events = delivered.value
        #expect(events.map(\.id) == all.filter { ["consent", "customer"].contains($0.category) }.map(\.id))
        // The log ends with another category's event: the checkpoint is past it all the same.
        #expect(try await subscription.checkpoint() == all.last!.position)
    }

    @Test("a subscription to a quiet category writes its checkpoint past other categories' events once they span its idle span, and not before")
    func quietCategoryCheckpoint() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        // From the append, not read back: a transaction of another test on the same server can
        // hold the log's readable end back for a while.
        let notice = try await store.append(to: "notice-1", events: [event()]).events[0].position
        // Shared pages show each subscriber the other category's events it passes (as the
        // projections' runner shares them).
        let pages = LogPageCache(source: .categories(["journey", "notice"]))
        func subscriber(_ name: String, span: UInt64) throws -> CatchUpSubscription {
            try CatchUpSubscription(
                store: store, name: name, source: .category("notice"), pages: pages, idleCheckpointSpan: span, logger: TestDatabase.quietLogger
            ) { _, _ in }
        }
        let brief = try subscriber("brief", span: 20)
        let usual = try subscriber("usual", span: 100_000)
        try await withServices([brief, usual]) {
            try await eventually(
                "both at the notice", observing: { [try await brief.checkpoint(), try await usual.checkpoint()] }, until: { $0 == [notice, notice] })
            // Thirty transactions of another category.
            for index in 0..<30 { try await store.append(to: "journey-\(index)", events: [event()]) }
            let last = try #require(try await store.head().lastPosition)
            try await eventually("the brief span's checkpoint past the journeys", observing: { try await brief.checkpoint() }, until: { $0 > notice })
            #expect(try await brief.checkpoint() <= last)
        }
        #expect(try await usual.checkpoint() == notice, "within its span an idle subscription writes nothing")
    }

    @Test("a batch larger than a page is read page by page in one transaction and handed over whole")
    func batchesSpanPages() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        // 25,000 events in 25 transactions of 1,000.
        for chunk in 0..<25 {
            try await store.transaction { tx in
                for stream in 0..<10 { try await tx.append(to: "journey-\(chunk)x\(stream)", events: (0..<100).map { _ in event() }) }
            }
        }
        // Other tests' open transactions may hold readers back for a moment.
        try await eventually("no open transaction to hold readers back") {
            let head = try await store.head()
            return head.horizon > head.lastPosition!.transactionId
        }
        let batches = Locked<[Int]>([])
        let subscription = try CatchUpSubscription(store: store, name: "bulk", batchSize: 22_000, logger: TestDatabase.quietLogger) { events, _ in
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.position < $1.position })
            batches.withLock { $0.append(events.count) }
        }
        let reached = try await withServices([subscription]) { try await caughtUp(subscription, of: store, timeout: .seconds(60)) }
        #expect(reached)
        #expect(batches.value == [22_000, 3_000])
        #expect(throws: EventStoreError.self) { try CatchUpSubscription(store: store, name: "huge", batchSize: 100_001) { _, _ in } }
    }

    @Test("two instances of one subscription never handle the same event twice")
    func competingInstances() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        try await makeSeenTable(store)
        for index in 0..<200 { try await store.append(to: "journey-\(index % 9)", events: [event()]) }
        let instances = try (0..<2).map { instance in
            try CatchUpSubscription(store: store, name: "shared", batchSize: 13, logger: TestDatabase.quietLogger) { events, transaction in
                try await recordSeen(events, by: "instance-\(instance)", on: transaction)
            }
        }
        let tasks = instances.map { instance in Task { try await instance.run() } }
        try await eventually("seenCount(store) == 200", observing: { try await seenCount(store) }, until: { $0 == 200 })
        for task in tasks { task.cancel() }
        for task in tasks { try await task.value }
        #expect(try await seenCount(store) == 200)
    }
}

/// An idle subscriber looks again after 5 ms, 10 ms, 20 ms, … of its clock, up to its poll
/// interval. This lets 16 s of `clock` pass, a second at a time once every subscriber sleeps
/// again, so their next polls are more than 2 s of test time away. A test that then moves the
/// clock on by 2 ms per look (at most 0.8 s in 8 s of waiting) lets a subscriber whose read was
/// held back by another test's open transaction look again soon, as it would, while only a
/// wake-up can deliver to an idle one.
func idleUntilPollsAreSecondsAway(_ clock: TestClock, subscribers: Int) async throws {
    for _ in 0..<16 {
        try await eventually("\(subscribers) subscribers to wait for their poll", observing: { clock.sleepers }, until: { $0 == subscribers })
        clock.advance(by: .seconds(1))
    }
    try await eventually("\(subscribers) subscribers to wait for their poll", observing: { clock.sleepers }, until: { $0 == subscribers })
}
