import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Appends to several streams")
struct MultiStreamAppendTests {
    @Test("one append writes several streams at their next versions, in version order in the global log")
    func writesAll() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "order-1", events: [event(), event()])
        let parts = [
            StreamAppend(to: "order-1", expected: .exact(2), events: [event("Shipped"), event("Invoiced")]),
            StreamAppend(to: "order-2", expected: .noStream, events: [event("Placed")]),
            StreamAppend(to: "customer-9", expected: .any, events: [event("Moved")]),
        ]
        let results = try await store.append(parts)
        #expect(results.map(\.streamName) == ["order-1", "order-2", "customer-9"])
        #expect(results[0].events.map(\.streamVersion) == [3, 4] && results[0].events.map(\.id) == parts[0].events.map(\.id))
        #expect(results[1].streamVersion == 1 && results[2].streamVersion == 1 && !results[0].replayed)
        let log = try await readUntil(store, expected: 6)
        // One transaction; inside it the streams go in name order, each in version order.
        #expect(log.map(\.type) == ["MilestoneReached", "MilestoneReached", "Moved", "Shipped", "Invoiced", "Placed"])
        #expect(Set(log.suffix(4).map(\.position.transactionId)).count == 1)
        #expect(log[3].position == results[0].events[0].position)
    }

    @Test("appends to several streams while other writers append to the same streams one by one: none is refused, every stream stays whole")
    func racingSingleWriters() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 12)
        defer { Task { await store.close() } }
        let streams = (0..<8).map { "race-\($0)" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<3 {
                group.addTask {
                    for round in 0..<200 {
                        let chosen = (0..<6).map { streams[($0 + round + writer) % streams.count] }
                        try await store.append(Array(Set(chosen)).map { StreamAppend(to: $0, events: [event("Batched")]) })
                    }
                }
            }
            for writer in 0..<5 {
                group.addTask {
                    for round in 0..<400 { try await store.append(to: streams[(round + writer) % streams.count], events: [event("Single")]) }
                }
            }
            try await group.waitForAll()
        }
        for stream in streams {
            let versions = try await store.readStream(stream, limit: 2_000).events.map(\.streamVersion)
            #expect(versions == Array(1...Int64(versions.count)))
        }
    }

    @Test("when one stream's expectation fails nothing is written, and the error names that stream")
    func allOrNothing() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "order-1", events: [event()])
        do {
            try await store.append([
                StreamAppend(to: "order-2", expected: .noStream, events: [event()]),
                StreamAppend(to: "order-1", expected: .exact(5), events: [event()]),
            ])
            Issue.record("an append whose expectation fails was stored")
        } catch let error as WrongExpectedVersionError {
            #expect(error.streamName == "order-1" && error.actualVersion == 1)
        }
        #expect(try await eventCount(store) == 1)
    }

    @Test("sending the same parts again replays them; a part reused with other events is an idempotency conflict")
    func replays() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let parts = [StreamAppend(to: "a-1", expected: .noStream, events: [event()]), StreamAppend(to: "b-1", expected: .noStream, events: [event()])]
        let first = try await store.append(parts)
        let again = try await store.append(parts)
        #expect(again.allSatisfy(\.replayed) && again.map(\.events) == first.map(\.events))
        #expect(try await eventCount(store) == 2)
        await #expect(throws: EventStoreError.self) {
            try await store.append([StreamAppend(to: "a-2", events: parts[0].events)])
        }
    }

    @Test("bad input is refused before anything is stored: a stream twice, an id twice, an empty part, no parts")
    func badInput() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let shared = event()
        let cases: [([StreamAppend], String)] = [
            ([StreamAppend(to: "a-1", events: [event()]), StreamAppend(to: "a-1", events: [event()])], "appears twice"),
            ([StreamAppend(to: "a-1", events: [shared]), StreamAppend(to: "a-2", events: [shared])], "appears twice"),
            ([StreamAppend(to: "a-1", events: [])], "at least one event"),
            ([], "at least one stream"),
            ([StreamAppend(to: "a 1", events: [event()])], "whitespace"),
        ]
        for (parts, expected) in cases {
            do {
                try await store.append(parts)
                Issue.record("accepted \(parts)")
            } catch let error as EventStoreError {
                #expect(error.code == .invalidInput && error.message.contains(expected), "\(error)")
            }
        }
        #expect(try await eventCount(store) == 0)
    }

    @Test("racing multi-stream appends on shared streams: each lands whole or is refused whole, and streams stay gap-free")
    func racing() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        let landed = Locked(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for round in 0..<20 {
                        let streams = ["hot-\((writer + round) % 3)", "hot-\((writer + round + 1) % 3)", "own-\(writer)"]
                        do {
                            try await store.append(streams.map { StreamAppend(to: $0, expected: .any, events: [event(), event()]) })
                            landed.withLock { $0 += 1 }
                        } catch let error as EventStoreError where error.code == .retryTransaction {
                            // Contention beyond the retries: refused whole, checked below.
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = landed.withLock { $0 }
        #expect(total > 0)
        #expect(try await eventCount(store) == total * 6)
        let gaps = try await store.query(
            "SELECT count(*) FROM (SELECT stream_version, row_number() OVER (PARTITION BY stream_name ORDER BY stream_version) AS n FROM events) v WHERE stream_version <> n"
        )
        #expect(try gaps[0].decode(Int.self, at: 0) == 0)
    }

    @Test("occurred-at travels in the metadata, readable from SQL as a timestamp")
    func occurredAt() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let when = Date(timeIntervalSince1970: 1_764_151_200.123456)
        try await store.append(to: "order-1", events: [event(metadata: EventMetadata(actor: "erp", occurredAt: when))])
        let read = try await store.readStream("order-1").events[0]
        #expect(abs(read.metadata.occurredAt!.timeIntervalSince(when)) < 0.000_01)
        let text = try await store.query(
            "SELECT metadata->>'occurred_at', (metadata->>'occurred_at')::timestamptz = to_timestamp(1764151200.123456) FROM events")
        #expect(try text[0].decode(String.self, at: 0) == "2025-11-26T10:00:00.123456Z")
        #expect(try text[0].decode(Bool.self, at: 1))
    }
}
