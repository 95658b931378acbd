import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

func event(_ type: String = "MilestoneReached", _ data: String = #"{"n":1}"#, id: UUID = UUID(), metadata: EventMetadata = EventMetadata()) -> EventData {
    EventData(id: id, type: type, data: data, metadata: metadata)
}

/// Reads the global log (or a category) in pages until `expected` events arrived. Transactions of
/// other tests on the same cluster can hold the read horizon back for a moment, so a short page is
/// not the end until the horizon has passed everything.
func readUntil(
    _ store: EventStore, category: String? = nil, after start: GlobalPosition = .start, expected: Int, pageSize: Int = 1000
) async throws -> [RecordedEvent] {
    var seen: [RecordedEvent] = []
    var position = start
    try await eventually(
        "\(expected) events in \(category.map { "category \($0)" } ?? "the log")", timeout: .seconds(30),
        observing: {
            while true {
                let page: GlobalSlice
                if let category {
                    page = try await store.readCategory(category, after: position, limit: pageSize)
                } else {
                    page = try await store.readAll(after: position, limit: pageSize)
                }
                seen += page.events
                position = page.nextPosition
                if page.isEnd || seen.count >= expected { return seen.count }
            }
        }, until: { $0 >= expected })
    return seen
}

func eventCount(_ store: EventStore) async throws -> Int {
    try await store.pool.query("SELECT count(*) FROM events")[0].decode(Int.self, at: 0)
}

@Suite("Append and read")
struct AppendAndReadTests {
    @Test("appends get consecutive stream versions and read back with metadata, forward and backward")
    func appendAndReadStream() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let metadata = EventMetadata(
            correlationId: "corr-1", causationId: "cmd-9", actor: "agent:ann", sourceSystem: "crm", extra: ["tenant": "acme", "quote\"key": "line\nbreak"])
        let first = try await store.append(
            to: "journey-42", expected: .noStream,
            events: [
                event("JourneyStarted", #"{"customer":"c-1","tier":"gold"}"#, metadata: metadata),
                event("MilestoneReached", #"{"milestone":"qualified"}"#, metadata: metadata),
            ])
        #expect(first.events.map(\.streamVersion) == [1, 2])
        #expect(!first.replayed)
        let second = try await store.append(to: "journey-42", expected: .exact(2), events: (3...7).map { event("MilestoneReached", #"{"n":\#($0)}"#) })
        #expect(second.streamVersion == 7)
        #expect(try await store.streamVersion("journey-42") == 7)
        #expect(try await store.streamVersion("journey-missing") == 0)

        let all = try await store.readStream("journey-42")
        #expect(all.events.map(\.streamVersion) == Array(1...7))
        #expect(all.isEnd)
        let started = all.events[0]
        #expect(started.type == "JourneyStarted")
        #expect(started.category == "journey")
        #expect(started.metadata == metadata)
        #expect(abs(started.recordedAt.timeIntervalSinceNow) < 60)
        struct Started: Decodable {
            var customer: String
            var tier: String
        }
        #expect(try started.decode(Started.self).tier == "gold")
        #expect(started.position == first.events[0].position)

        // Paging forward.
        var versions: [Int64] = []
        var from: Int64? = 1
        // Bounded: a paging bug that never ends the pages fails instead of looping for ever.
        while let start = from, versions.count <= 7 {
            let page = try await store.readStream("journey-42", from: start, limit: 3)
            versions += page.events.map(\.streamVersion)
            from = page.nextVersion
        }
        #expect(versions == Array(1...7))
        // Paging backward from the end.
        var backward: [Int64] = []
        var cursor: Int64? = nil
        repeat {
            let page = try await store.readStream("journey-42", from: cursor, direction: .backward, limit: 3)
            backward += page.events.map(\.streamVersion)
            cursor = page.nextVersion
        } while cursor != nil && backward.count <= 7
        #expect(backward == Array((1...7).reversed()))
        #expect(try await store.readStream("journey-none").events.isEmpty)
    }

    @Test("new events get time-ordered version 7 ids that PostgreSQL stores as they are")
    func timeOrderedIds() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let start = Date()
        let ids = (0..<200).map { index in UUID.timeOrdered(now: start.addingTimeInterval(Double(index) * 0.002)) }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let text = id.lowercasedText
            #expect(text[text.index(text.startIndex, offsetBy: 14)] == "7")  // version 7
            #expect("89ab".contains(text[text.index(text.startIndex, offsetBy: 19)]))  // RFC 9562 variant
        }
        // Made a few milliseconds apart, they sort in the order they were made, as text and as uuid.
        #expect(ids.map(\.lowercasedText) == ids.map(\.lowercasedText).sorted())
        let millis = try await store.pool.query(
            "SELECT ('x' || substr(replace(\(ids[0])::uuid::text, '-', ''), 1, 12))::bit(48)::int8")[0].decode(Int64.self, at: 0)
        #expect(abs(Double(millis) - start.timeIntervalSince1970 * 1000) < 1.5)
        let appended = try await store.append(to: "journey-ids", events: [EventData(type: "JourneyStarted", data: "{}")])
        let stored = try await store.readStream("journey-ids").events[0]
        #expect(stored.id == appended.events[0].id)
        #expect(stored.id.lowercasedText.dropFirst(14).first == "7")
    }

    @Test("expected version: any, no stream, stream exists and exact, with typed conflicts")
    func expectedVersions() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        await #expect(throws: WrongExpectedVersionError(streamName: "customer-1", expected: .streamExists, actualVersion: 0)) {
            try await store.append(to: "customer-1", expected: .streamExists, events: [event()])
        }
        await #expect(throws: WrongExpectedVersionError(streamName: "customer-1", expected: .exact(3), actualVersion: 0)) {
            try await store.append(to: "customer-1", expected: .exact(3), events: [event()])
        }
        #expect(try await store.append(to: "customer-1", expected: .exact(0), events: [event()]).streamVersion == 1)
        await #expect(throws: WrongExpectedVersionError(streamName: "customer-1", expected: .noStream, actualVersion: 1)) {
            try await store.append(to: "customer-1", expected: .noStream, events: [event()])
        }
        #expect(try await store.append(to: "customer-1", expected: .streamExists, events: [event()]).streamVersion == 2)
        #expect(try await store.append(to: "customer-1", expected: .any, events: [event()]).streamVersion == 3)
        do {
            try await store.append(to: "customer-1", expected: .exact(2), events: [event(), event()])
            Issue.record("a stale exact version must conflict")
        } catch let conflict as WrongExpectedVersionError {
            #expect(conflict.streamName == "customer-1")
            #expect(conflict.expected == .exact(2))
            #expect(conflict.actualVersion == 3)
            #expect(conflict.message == "wrong expected version for stream customer-1: expected 2, actual 3")
        }
        #expect(try await store.streamVersion("customer-1") == 3)
        #expect(try await eventCount(store) == 3)
    }

    @Test("re-appending the same batch returns the original positions and writes nothing")
    func idempotentRetry() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let batch = [event("A"), event("B"), event("C")]
        let original = try await store.append(to: "order-7", expected: .noStream, events: batch)
        try await store.append(to: "order-7", events: [event("D")])
        // A retry with the same (now stale) expected version is not a conflict: it is the same append.
        let retry = try await store.append(to: "order-7", expected: .noStream, events: batch)
        #expect(retry.replayed)
        #expect(retry.events == original.events)
        let retryAny = try await store.append(to: "order-7", expected: .any, events: batch)
        #expect(retryAny.replayed)
        #expect(retryAny.events == original.events)
        #expect(try await store.streamVersion("order-7") == 4)
        #expect(try await eventCount(store) == 4)
        // Inside a caller's transaction too.
        let inTransaction = try await store.transaction { transaction in
            try await transaction.append(to: "order-7", expected: .exact(1), events: batch)
        }
        #expect(inTransaction.replayed)
        #expect(inTransaction.events == original.events)
        #expect(try await eventCount(store) == 4)
    }

    @Test("partial, moved or altered retries are idempotency conflicts and store nothing")
    func idempotencyConflicts() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let a = event("A")
        let b = event("B")
        try await store.append(to: "order-1", events: [a, b])
        let cases: [(String, [EventData])] = [
            ("order-1", [a, b, event("C")]),  // part old, part new
            ("order-2", [a]),  // same id, another stream
            ("order-1", [EventData(id: a.id, type: "A", data: #"{"changed":true}"#)]),  // same id, other data
            ("order-1", [b, a]),  // reordered
        ]
        for (stream, batch) in cases {
            do {
                try await store.append(to: stream, events: batch)
                Issue.record("\(batch.map(\.type)) on \(stream) must be an idempotency conflict")
            } catch let error as EventStoreError {
                #expect(error.code == .idempotencyConflict, "\(error)")
            }
        }
        #expect(try await eventCount(store) == 2)
        #expect(try await store.streamVersion("order-1") == 2)
        #expect(try await store.streamVersion("order-2") == 0)
    }

    @Test("bad input gets a clear error and stores nothing")
    func badInput() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let id = UUID()
        let invalid: [(String, [EventData], EventStoreError.Code, String)] = [
            ("", [event()], .invalidInput, "stream name must not be empty"),
            ("journey 1", [event()], .invalidInput, "whitespace"),
            ("-journey", [event()], .invalidInput, "must not start with '-'"),
            (String(repeating: "x", count: 201), [event()], .invalidInput, "longer than 200"),
            ("journey-1", [], .invalidInput, "at least one event"),
            ("journey-1", [event(""), event()], .invalidInput, "event type"),
            ("journey-1", [event("Has Space")], .invalidInput, "whitespace"),
            ("journey-1", [event(id: id), event(id: id)], .invalidInput, "repeats event id"),
            ("journey-1", [event("Ok", #"{"a":1}"#), event("Broken", #"{"a":"#)], .invalidEventData, "does not hold valid JSON"),
            ("journey-1", [event("Empty", "")], .invalidEventData, "empty data"),
            ("journey-1", [event("Nul", "{\"a\":1}\u{0}garbage")], .invalidEventData, "NUL character"),
            ("journey-1", [event("Nul", #"{"a":"\u0000"}"#)], .invalidEventData, "cannot be stored as jsonb"),
        ]
        for (stream, events, code, fragment) in invalid {
            do {
                try await store.append(to: stream, events: events)
                Issue.record("append to '\(stream)' should be refused")
            } catch let error as EventStoreError {
                #expect(error.code == code, "\(error)")
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
        await #expect(throws: EventStoreError.self) { try await store.append(to: "journey-1", expected: .exact(-1), events: [event()]) }
        await #expect(throws: EventStoreError.self) { try await store.readStream("journey-1", limit: 0) }
        await #expect(throws: EventStoreError.self) { try await store.readCategory("has-dash") }
        #expect(try await eventCount(store) == 0)
    }

    @Test("events are immutable in the database: UPDATE, DELETE and TRUNCATE fail")
    func immutability() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "consent-1", events: [event("ConsentGranted", #"{"purpose":"marketing"}"#)])
        for sql: PostgresQuery in ["UPDATE events SET data = '{}'", "DELETE FROM events", "TRUNCATE events", "DELETE FROM events WHERE false"] {
            do {
                try await store.pool.query(sql)
                Issue.record("\(sql) must fail")
            } catch let error as PostgresError {
                #expect(error.code == "WM004", "\(sql): \(error)")
                #expect(error.message.contains("events are immutable"))
            }
        }
        let data = try await store.readStream("consent-1").events[0].data
        #expect(data == #"{"purpose": "marketing"}"#)
    }

    @Test("the global log and categories read in pages, in commit order")
    func globalAndCategoryReads() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        var appended: [UUID] = []
        for index in 0..<25 {
            let stream = index % 3 == 0 ? "customer-\(index)" : "journey-\(index % 4)"
            let batch = [event(), event()]
            try await store.append(to: stream, events: batch)
            appended += batch.map(\.id)
        }
        let seen = try await readUntil(store, expected: appended.count, pageSize: 7)
        #expect(seen.map(\.id) == appended)
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.position < $1.position })

        let journeyCount = seen.filter { $0.category == "journey" }.count
        let journeys = try await readUntil(store, category: "journey", expected: journeyCount, pageSize: 4)
        #expect(journeys.map(\.id) == seen.filter { $0.category == "journey" }.map(\.id))
        #expect(journeys.allSatisfy { $0.streamName.hasPrefix("journey-") })
        #expect(try await store.readCategory("customer").events.count == seen.filter { $0.category == "customer" }.count)
        // Reading from the last position yields nothing new.
        #expect(try await store.readAll(after: seen.last!.position).events.isEmpty)
    }

    @Test("a global reader never skips an event whose transaction commits late")
    func lateCommitIsNotSkipped() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "journey-0", events: [event("Before")])
        let early = try await readUntil(store, expected: 1)
        #expect(early.map(\.type) == ["Before"])
        let earlyPosition = early.last!.position

        let slowOpen = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        // Transaction T1 appends first (older transaction id) but commits last.
        let slow = Task {
            try await store.transaction { transaction in
                try await transaction.append(to: "journey-slow", events: [event("Slow")])
                slowOpen.continuation.yield()
                var waiter = release.stream.makeAsyncIterator()
                await waiter.next()
            }
        }
        var opened = slowOpen.stream.makeAsyncIterator()
        await opened.next()
        try await store.append(to: "journey-fast", events: [event("Fast")])

        // T2 committed, but T1 is still open: a reader must not move past T1's place.
        let during = try await store.readAll(after: earlyPosition)
        #expect(during.events.isEmpty, "read \(during.events.map(\.type)) while an older transaction was open")
        let duringCategory = try await store.readCategory("journey", after: earlyPosition)
        #expect(duringCategory.events.isEmpty)

        release.continuation.yield()
        try await slow.value
        let after = try await readUntil(store, after: earlyPosition, expected: 2)
        #expect(after.map(\.type) == ["Slow", "Fast"])
    }
}
