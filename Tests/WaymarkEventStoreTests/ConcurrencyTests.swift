import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Concurrency")
struct ConcurrencyTests {
    /// 16 writers append at once: each to streams of its own (with exact expected versions), and all
    /// of them to a few shared hot streams (reading the version, appending with it, retrying on a
    /// conflict). A live subscriber follows the global log meanwhile. Every event must reach it once,
    /// in global order, and every stream's versions must run 1…n with no gap.
    @Test("16 concurrent writers and a live subscriber: nothing skipped, nothing twice, no version gaps")
    func writersAndLiveSubscriber() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 20)
        defer { Task { await store.close() } }
        try await makeSeenTable(store)

        let delivered = Locked<[RecordedEvent]>([])
        let subscriber = try CatchUpSubscription(store: store, name: "audit", batchSize: 64, logger: TestDatabase.quietLogger) { events, transaction in
            try await recordSeen(events, by: "audit", on: transaction)
            delivered.withLock { $0 += events }
        }
        let subscription = Task { try await subscriber.run() }

        let writers = 16
        let roundsPerWriter = 40
        let hotStreams = ["journey-hot0", "journey-hot1", "journey-hot2"]
        let appended = Locked<[UUID]>([])
        let conflicts = Locked(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var ownVersion: Int64 = 0
                    for round in 0..<roundsPerWriter {
                        if round % 4 == 3 {
                            // A hot stream shared by every writer: optimistic concurrency with retries.
                            let stream = hotStreams[(writer + round) % hotStreams.count]
                            let batch = [event("HandedOff")]
                            // Bounded: an append that never lands fails the test instead of spinning.
                            for attempt in 1...1_000 {
                                #expect(attempt < 1_000, "an append to \(stream) never landed")
                                let version = try await store.streamVersion(stream)
                                do {
                                    try await store.append(to: stream, expected: .exact(version), events: batch)
                                    break
                                } catch is WrongExpectedVersionError {
                                    conflicts.withLock { $0 += 1 }
                                }
                            }
                            appended.withLock { $0 += batch.map(\.id) }
                        } else {
                            let batch = (0..<(round % 3 + 1)).map { _ in event("MilestoneReached") }
                            let result = try await store.append(to: "customer-w\(writer)", expected: .exact(ownVersion), events: batch)
                            ownVersion = result.streamVersion
                            appended.withLock { $0 += batch.map(\.id) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let expected = appended.value
        try await eventually(
            "delivered.value.count >= expected.count", timeout: .seconds(60), observing: { delivered.value.count }, until: { $0 >= expected.count })
        subscription.cancel()
        try await subscription.value

        let events = delivered.value
        #expect(events.count == expected.count)
        #expect(Set(events.map(\.id)) == Set(expected))
        #expect(Set(events.map(\.id)).count == events.count, "an event was delivered twice")
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.position < $1.position }, "delivery left global order")
        #expect(try await seenCount(store) == expected.count)

        var versionsByStream: [String: [Int64]] = [:]
        for event in events { versionsByStream[event.streamName, default: []].append(event.streamVersion) }
        for (stream, versions) in versionsByStream {
            #expect(versions == Array(1...Int64(versions.count)), "versions of \(stream) have a gap or are out of order")
            #expect(try await store.streamVersion(stream) == Int64(versions.count))
        }
        #expect(versionsByStream.count == writers + hotStreams.count)
        #expect(try await subscriber.checkpoint() == events.last!.position)
    }

    /// Writers racing on one stream with `.any` never fail and never leave a gap: the loser of each
    /// race on the (stream, version) index retries. Writers racing with exact versions get typed
    /// conflicts naming the version that won, also inside their own transactions.
    @Test("racing appends to one stream: .any always lands, exact versions conflict cleanly")
    func racingOnOneStream() async throws {
        let store = try await TestDatabase.freshStore(maxConnections: 16)
        defer { Task { await store.close() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    for _ in 0..<15 { try await store.append(to: "journey-race", expected: .any, events: [event(), event()]) }
                }
            }
            try await group.waitForAll()
        }
        let versions = try await store.readStream("journey-race", limit: 1000).events.map(\.streamVersion)
        #expect(versions == Array(1...480))

        let outcomes = Locked<[Bool]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do {
                        try await store.transaction { transaction in
                            try await transaction.append(to: "journey-race", expected: .exact(480), events: [event()])
                        }
                        outcomes.withLock { $0.append(true) }
                    } catch let conflict as WrongExpectedVersionError {
                        #expect(conflict.actualVersion == 481)
                        outcomes.withLock { $0.append(false) }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(outcomes.value.filter { $0 }.count == 1)
        #expect(try await store.streamVersion("journey-race") == 481)
    }
}
