import Foundation
import ServiceLifecycle
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Leadership")
struct LeadershipTests {
    /// Holders of one key whose work notes who runs it, on one test clock.
    struct Holders {
        let store: EventStore
        let clock = TestClock()
        let key: String
        /// The holders whose work runs now.
        let working = Locked<Set<String>>([])
        /// The most holders ever working at once.
        let mostAtOnce = Locked(0)
        let leaderships: [String: Leadership]

        init(_ store: EventStore, names: [String]) {
            self.store = store
            let key = Leadership.key("test", UUID().uuidString, in: store)
            self.key = key
            var leaderships: [String: Leadership] = [:]
            let (working, mostAtOnce, clock) = (working, mostAtOnce, clock)
            for name in names {
                leaderships[name] = Leadership(
                    store: store, key: key, retryInterval: .seconds(2), checkInterval: .seconds(1), clock: clock, logger: TestDatabase.quietLogger
                ) {
                    let now = working.withLock {
                        $0.insert(name)
                        return $0.count
                    }
                    mostAtOnce.withLock { $0 = max($0, now) }
                    defer { working.withLock { _ = $0.remove(name) } }
                    // Works until it is cancelled (its lead ended).
                    while true { try await Task.sleep(for: .seconds(3600)) }
                }
            }
            self.leaderships = leaderships
        }

        /// The one holder whose work runs, once exactly one does (other than `previous`); time
        /// moves on meanwhile, so standbys retry and leaders check their connection.
        func leader(_ what: String, other previous: String? = nil) async throws -> String? {
            var seen: Set<String> = []
            try await eventually(what) {
                clock.advance(by: .seconds(1))
                seen = working.value
                return seen.count == 1 && seen.first != previous && leaderships.filter(\.value.isLeading).map(\.key) == Array(seen)
            }
            return seen.first
        }

        /// The backend holding the key's advisory lock.
        func lockHolderPid() async throws -> Int32? {
            try await store.query(
                """
                SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
                    AND ((classid::int8 << 32) | objid::int8) = hashtextextended(\(key), 0)
                """
            ).first?.decode(Int32.self, at: 0)
        }
    }

    @Test("of two holders of one key one leads; killing its connection ends its work and the other takes over")
    func oneLeadsAndTheOtherTakesOver() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let holders = Holders(store, names: ["a", "b"])
        try await withServices(Array(holders.leaderships.values)) {
            let first = try #require(try await holders.leader("one holder to lead"))
            // Time passes: the standby keeps trying, the leader keeps its lead.
            for _ in 0..<5 { holders.clock.advance(by: .seconds(2)) }
            #expect(try await holders.leader("the same holder to lead on") == first)
            #expect(holders.mostAtOnce.value == 1, "two holders worked at once")
            let pid = try #require(try await holders.lockHolderPid())
            #expect(try await store.query("SELECT pg_terminate_backend(\(pid))")[0].decode(Bool.self, at: 0))
            let second = try #require(try await holders.leader("the other holder to take over", other: first))
            #expect(second != first)
            // The lost leader's work was cancelled (`leader` waits for exactly one to work). Until
            // its next check it could not know, so the two may have overlapped for that long.
            #expect(holders.leaderships[first]?.isLeading == false)
        }
        #expect(holders.working.value.isEmpty, "graceful shutdown ended the work")
    }

    @Test("graceful shutdown of the leader's process releases the lead at once: a standby takes over at its next try")
    func gracefulShutdownReleases() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let holders = Holders(store, names: ["a", "b"])
        let leaderGroup = ServiceGroup(
            configuration: .init(services: [.init(service: holders.leaderships["a"]!)], logger: TestDatabase.quietLogger))
        let leaderProcess = Task { try await leaderGroup.run() }
        #expect(try await holders.leader("a to lead") == "a")
        try await withServices([holders.leaderships["b"]!]) {
            // b found the lock taken and waits for its next try (a waits for its next check).
            try await eventually("b to stand by", observing: { holders.clock.sleepers }, until: { $0 == 2 })
            await leaderGroup.triggerGracefulShutdown()
            try await leaderProcess.value
            #expect(!holders.leaderships["a"]!.isLeading)
            // Released as the lead ended, not once the server noticed a closed session.
            #expect(try await holders.lockHolderPid() == nil)
            #expect(try await holders.leader("b to take over") == "b")
        }
        #expect(holders.mostAtOnce.value == 1)
    }
}
