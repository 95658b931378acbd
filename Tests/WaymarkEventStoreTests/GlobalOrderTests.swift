import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@testable import WaymarkEventStore

/// Every reader of the global log or of a category must get each stream's events in version
/// order, whichever way they were appended.
@Suite("Global order")
struct GlobalOrderTests {
    /// Reads the whole log and every category seen in it, and checks each stream comes in version
    /// order 1, 2, 3, … in each of them. Returns the log.
    @discardableResult
    static func expectStreamsInOrder(_ store: EventStore, sourceLocation: SourceLocation = #_sourceLocation) async throws -> [RecordedEvent] {
        let all = try await readUntil(store, expected: try await eventCount(store))
        var readers: [(String, [RecordedEvent])] = [("readAll", all)]
        for category in Set(all.map(\.category)).sorted() {
            let expected = all.filter { $0.category == category }.count
            let events = try await readUntil(store, category: category, expected: expected, pageSize: 97)
            #expect(events.map(\.id) == all.filter { $0.category == category }.map(\.id), sourceLocation: sourceLocation)
            readers.append(("readCategory(\(category))", events))
        }
        for (reader, events) in readers {
            var versions: [String: [Int64]] = [:]
            for event in events { versions[event.streamName, default: []].append(event.streamVersion) }
            for (stream, seen) in versions {
                #expect(seen == Array(1...Int64(seen.count)), "\(reader) returned \(stream) as \(seen)", sourceLocation: sourceLocation)
            }
        }
        return all
    }

    static func appendSQL(_ stream: String, expected: String = "any", id: UUID = UUID()) -> PostgresQuery {
        "SELECT stream_version, replayed FROM append_events(\(stream), \(expected), NULL, ARRAY[\(id)], ARRAY['Happened'], ARRAY['{}'::jsonb], ARRAY['{}'::jsonb])"
    }

    @Test("a transaction that wrote before it appends is refused when a newer one wrote the stream, and store.transaction runs again")
    func olderTransactionIsRefused() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }

        // The reproduction, in SQL: T1 writes (it holds an id), T2 appends acct-1 v1 and
        // commits, T1 appends acct-1 with any.
        let refusal: PostgresError? = try await store.pool.withConnection { t1 in
            try await t1.runScript("BEGIN")
            try await t1.query(Self.appendSQL("audit-1"))
            try await store.append(to: "acct-1", events: [event()])
            do {
                try await t1.query(Self.appendSQL("acct-1"))
                try await t1.runScript("COMMIT")
                return nil
            } catch let error as PostgresError {
                try await t1.runScript("ROLLBACK")
                return error
            }
        }
        #expect(refusal?.code == "40001")
        #expect(refusal?.message.contains("acct-1") == true)

        // Through the API: the body writes, another writer moves the stream on, the body's append is
        // refused, and the transaction runs again with a newer id.
        let attempts = Locked(0)
        let result = try await store.transaction { transaction in
            let attempt = attempts.withLock { count -> Int in
                count += 1
                return count
            }
            try await transaction.append(to: "audit-2", events: [event("Opened")])
            if attempt == 1 { try await store.append(to: "acct-2", events: [event("Elsewhere")]) }
            return try await transaction.append(to: "acct-2", expected: .any, events: [event("Late")])
        }
        #expect(attempts.value == 2)
        #expect(result.streamVersion == 2)

        // A raw append refused inside a transaction names the stream and asks for a retry.
        await #expect {
            try await store.transaction(maxAttempts: 1) { transaction in
                try await transaction.append(to: "audit-3", events: [event()])
                try await store.append(to: "acct-3", events: [event()])
                try await transaction.append(to: "acct-3", events: [event()])
            }
        } throws: { error in
            (error as? EventStoreError)?.code == .retryTransaction && EventStore.isRetryable(error)
                && (error as? EventStoreError)?.message.contains("acct-3") == true
        }
        #expect(try await store.streamVersion("audit-3") == 0, "the refused transaction stored nothing")

        let log = try await Self.expectStreamsInOrder(store)
        #expect(log.map(\.streamName).filter { $0 == "acct-2" }.count == 2)
    }

    @Test("a subscription handler that appends after a newer writer gets its batch run again, in order")
    func subscriptionHandlerAppends() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await makeSeenTable(store)
        for index in 1...5 { try await store.append(to: "journey-\(index)", events: [event("Started")]) }

        let attempts = Locked(0)
        let committed = Locked(0)
        let idsAssigned = Locked<[Bool]>([])
        let manager = try CatchUpSubscription(store: store, name: "manager", source: .category("journey"), logger: TestDatabase.quietLogger) {
            events, transaction in
            let attempt = attempts.withLock { count -> Int in
                count += 1
                return count
            }
            // The batch's transaction already holds an id: the checkpoint row lock took one.
            let assigned = try await transaction.query("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")[0].decode(Bool.self, at: 0)
            idsAssigned.withLock { $0.append(assigned) }
            try await recordSeen(events, by: "manager", on: transaction)
            if attempt == 1 {
                // A newer transaction appends to the stream this handler is about to append to.
                try await store.append(to: "notice-1", events: [event("Outside")])
            }
            for journeyEvent in events {
                try await transaction.append(to: "notice-1", events: [EventData(type: "NoticeRequested", data: "{}", metadata: .causedBy(journeyEvent))])
            }
            transaction.afterCommit { committed.withLock { $0 += 1 } }
        }
        let running = Task { try await manager.run() }
        try await caughtUp(manager, of: store, timeout: .seconds(30))
        running.cancel()
        try await running.value

        #expect(idsAssigned.value.first == true)
        // Other tests' transactions on the cluster can split the five events over batches.
        #expect(committed.value >= 1)
        #expect(attempts.value == committed.value + 1, "the refused batch ran once more; after-commit hooks ran for committed attempts only")
        #expect(try await seenCount(store) == 5, "the side table holds each event once")
        let notices = try await store.readStream("notice-1").events
        #expect(notices.map(\.type) == ["Outside"] + Array(repeating: "NoticeRequested", count: 5))
        try await Self.expectStreamsInOrder(store)
    }

    @Test("16 writers in two processes, .any on hot streams, transactions that wrote first: every reader sees each stream in order")
    func contendedAppendsStayInOrder() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 12)
        defer { Task { await store.close() } }
        let other = try TestDatabase.anotherProcess(sharing: store, maxConnections: 12)
        defer { Task { await other.close() } }
        try await makeSeenTable(store)
        let delivered = Locked<[RecordedEvent]>([])
        let subscriber = try CatchUpSubscription(store: store, name: "audit", batchSize: 50, logger: TestDatabase.quietLogger) {
            events, transaction in
            try await recordSeen(events, by: "audit", on: transaction)
            transaction.afterCommit { delivered.withLock { $0 += events } }
        }
        let subscription = Task { try await subscriber.run() }

        let hot = (0..<4).map { "order-hot\($0)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<16 {
                let writerStore = writer % 2 == 0 ? store : other
                group.addTask {
                    for round in 0..<24 {
                        let stream = hot[(writer + round) % hot.count]
                        if round % 3 == 2 {
                            // A transaction that writes elsewhere first, so it holds an older id.
                            try await writerStore.transaction { transaction in
                                try await transaction.append(to: "audit-w\(writer)", events: [event("Touched")])
                                try await transaction.append(to: stream, expected: .any, events: [event(), event()])
                            }
                        } else {
                            try await writerStore.append(to: stream, expected: .any, events: [event()])
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let log = try await Self.expectStreamsInOrder(store)
        let perWriter = 16 + 8 * 3
        #expect(log.count == 16 * perWriter)
        for stream in hot {
            #expect(try await store.streamVersion(stream) == Int64(log.filter { $0.streamName == stream }.count))
        }
        try await caughtUp(subscriber, of: store, timeout: .seconds(60))
        subscription.cancel()
        try await subscription.value
        let seen = delivered.value
        #expect(seen.map(\.id) == log.map(\.id), "the subscription delivered the log in its order, once")
    }

    @Test("8 copies of one batch racing on a new stream: one appends, seven replay with its positions")
    func racingCopiesReplay() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 12)
        defer { Task { await store.close() } }
        for round in 0..<6 {
            let stream = "acct-race\(round)"
            let id = UUID()
            let append = Self.appendSQL(stream, expected: "no_stream", id: id)
            // In even rounds a first copy holds the batch uncommitted while the others start, so
            // every other copy waits on the unique index and then sees the original commit.
            let holder: Task<Void, Error>?
            var holderPid: Int32?
            let holding = AsyncStream<Int32>.makeStream()
            let release = AsyncStream<Void>.makeStream()
            if round % 2 == 0 {
                holder = Task {
                    try await store.pool.withConnection { connection in
                        try await connection.runScript("BEGIN")
                        try await connection.query(append)
                        holding.continuation.yield(try await connection.query("SELECT pg_backend_pid()")[0].decode(Int32.self, at: 0))
                        var waiter = release.stream.makeAsyncIterator()
                        await waiter.next()
                        try await connection.runScript("COMMIT")
                    }
                }
                var opened = holding.stream.makeAsyncIterator()
                holderPid = await opened.next()
            } else {
                holder = nil
            }
            let outcomes = Locked<[(version: Int64, replayed: Bool)]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let row = try await store.pool.query(append)[0]
                        let outcome = try row.decode(Int64.self, Bool.self)
                        outcomes.withLock { $0.append((outcome.0, outcome.1)) }
                    }
                }
                if let holderPid {
                    // Every copy waits on the holder's uncommitted batch before it commits.
                    try await eventually("8 copies to wait on the holder") {
                        try await store.query("SELECT count(*) FROM pg_stat_activity WHERE \(holderPid) = ANY(pg_blocking_pids(pid))")[0]
                            .decode(Int.self, at: 0) == 8
                    }
                    release.continuation.yield()
                }
                try await group.waitForAll()
            }
            try await holder?.value
            let results = outcomes.value
            #expect(results.count == 8)
            #expect(results.allSatisfy { $0.version == 1 })
            #expect(results.filter { !$0.replayed }.count == (holder == nil ? 1 : 0), "round \(round): \(results)")
            #expect(try await store.streamVersion(stream) == 1)
        }

        // Through the API: an autocommit append racing the same batch inside a transaction.
        for pair in 0..<100 {
            let batch = [event(), event()]
            let stream = "journey-pair\(pair)"
            async let plain = store.append(to: stream, expected: .noStream, events: batch)
            async let inTransaction = store.transaction { try await $0.append(to: stream, expected: .noStream, events: batch) }
            let (a, b) = try await (plain, inTransaction)
            #expect(a.events == b.events)
            #expect(a.replayed != b.replayed, "pair \(pair): exactly one of the two stored the batch")
        }
    }

    @Test("the head tells caught up from held back by an open transaction; a lookup by id finds a landed event")
    func headAndLookup() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        #expect(try await store.head().lastPosition == nil)
        let first = try await store.append(to: "journey-1", events: [event("Started")])
        let head = try await store.head()
        #expect(head.lastPosition == first.events[0].position)
        try await eventually("no open transaction to hold readers back") { !(try await store.head().isHeldBack) }

        let found = try #require(try await store.event(withId: first.events[0].id))
        #expect(found.streamName == "journey-1" && found.streamVersion == 1 && found.position == first.events[0].position)
        #expect(try await store.event(withId: UUID()) == nil)

        // An open transaction that holds an older id holds back a later commit.
        let opened = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        let slow = Task {
            try await store.transaction { transaction in
                try await transaction.append(to: "journey-slow", events: [event()])
                opened.continuation.yield()
                var waiter = release.stream.makeAsyncIterator()
                await waiter.next()
            }
        }
        var openedWaiter = opened.stream.makeAsyncIterator()
        await openedWaiter.next()
        let fast = try await store.append(to: "journey-fast", events: [event()])
        let heldBack = try await store.head()
        #expect(heldBack.lastPosition == fast.events[0].position)
        #expect(heldBack.isHeldBack)
        #expect(heldBack.horizon <= fast.events[0].position.transactionId)
        let page = try await store.readAll(after: first.events[0].position)
        #expect(page.events.isEmpty && page.isEnd)
        #expect(try await store.event(withId: fast.events[0].id)?.position == fast.events[0].position, "a held-back event is found by id")
        release.continuation.yield()
        try await slow.value
        // Other tests' transactions on the same cluster can hold the horizon back for a moment.
        try await eventually("no open transaction to hold readers back") { !(try await store.head().isHeldBack) }
        #expect(try await readUntil(store, after: first.events[0].position, expected: 2).count == 2)
    }

    @Test("connect takes every option of init, and a pool without the store's session settings is refused")
    func connectOptions() async throws {
        let (pool, schema) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        #expect {
            try EventStore(pool: pool, schema: schema, logger: TestDatabase.quietLogger)
        } throws: { error in
            (error as? EventStoreError)?.code == .invalidInput && "\(error)".contains("enable_seqscan = off, jit = off")
        }
        let store = try EventStore.connect(
            url: try TestDatabase.url(), schema: schema, maxConnections: 2, logger: TestDatabase.quietLogger, knownStreamVersions: 0)
        defer { Task { await store.close() } }
        try await Migrator(migrations: try EventStore.migrations(), schema: schema, logger: TestDatabase.quietLogger)
            .migrate(store.pool)
        try await store.append(to: "journey-1", events: [event()])
        #expect(store.versions.capacity == 0 && store.versions.count == 0, "knownStreamVersions reached the store")
        #expect(try await store.pool.query("SHOW enable_seqscan")[0].decode(String.self, at: 0) == "off")
        #expect(try await store.pool.query("SHOW jit")[0].decode(String.self, at: 0) == "off")
    }
}
