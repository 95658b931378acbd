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

        init(_ store: EventStore, names: [String], checkTimeout: Duration? = nil) {
            self.store = store
            let key = Leadership.key("test", UUID().uuidString, in: store)
            self.key = key
            var leaderships: [String: Leadership] = [:]
            let (working, mostAtOnce, clock) = (working, mostAtOnce, clock)
            for name in names {
                leaderships[name] = Leadership(
                    store: store, key: key, retryInterval: .seconds(2), checkInterval: .seconds(1), checkTimeout: checkTimeout, clock: clock,
                    logger: TestDatabase.quietLogger
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

    /// Runs `body` while the server process `pid` is stopped (SIGSTOP), as a server behind a
    /// network partition looks to its client: the connection stays open and nothing answers. The
    /// process continues (SIGCONT) when `body` ends, however it ends.
    static func whileSilent<T>(_ pid: Int32, _ body: () async throws -> T) async throws -> T {
        try #require(kill(pid, SIGSTOP) == 0, "cannot stop the server process \(pid): \(String(cString: strerror(errno)))")
        defer { kill(pid, SIGCONT) }
        return try await body()
    }

    /// Stopping a server process needs a private cluster run by this user.
    static let serverProcessesCanBeStopped = (try? TestDatabase.localCluster()) != nil

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

    @Test(
        "a leader whose check gets no answer within the check timeout ends its work; a holder leads again once the old session is gone",
        .enabled(if: serverProcessesCanBeStopped))
    func unansweredCheckEndsTheLead() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let holders = Holders(store, names: ["a", "b"], checkTimeout: .seconds(4))
        try await withServices(Array(holders.leaderships.values)) {
            let first = try #require(try await holders.leader("one holder to lead"))
            let pid = try #require(try await holders.lockHolderPid())
            try await Self.whileSilent(pid) {
                // Checks go unanswered; past the timeout the leader stops working without waiting
                // for the server (the lock stays with the silent session meanwhile).
                try await eventually(
                    "the leader to give its lead up",
                    observing: { () -> (Set<String>, Bool?) in
                        holders.clock.advance(by: .seconds(1))
                        return (holders.working.value, holders.leaderships[first]?.isLeading)
                    }
                ) { $0.0.isEmpty && $0.1 == false }
                #expect(try await holders.lockHolderPid() == pid)
            }
            // The server process runs again, finds its client gone and exits: the lock is free.
            _ = try #require(try await holders.leader("a holder to lead again"))
            #expect(try await holders.lockHolderPid() != pid)
        }
        #expect(holders.mostAtOnce.value == 1, "two holders worked at once")
        #expect(holders.working.value.isEmpty)
    }

    @Test("graceful shutdown of a leader whose server does not answer ends within the check timeout", .enabled(if: serverProcessesCanBeStopped))
    func shutdownDoesNotWaitForASilentServer() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let holders = Holders(store, names: ["a"], checkTimeout: .seconds(4))
        let leadership = holders.leaderships["a"]!
        let group = ServiceGroup(configuration: .init(services: [.init(service: leadership)], logger: TestDatabase.quietLogger))
        let process = Task { try await group.run() }
        #expect(try await holders.leader("a to lead") == "a")
        let pid = try #require(try await holders.lockHolderPid())
        let ended = Locked(false)
        let stopping = try await Self.whileSilent(pid) {
            let stopping = Task {
                await group.triggerGracefulShutdown()
                try await process.value
                ended.withLock { $0 = true }
            }
            // The work stops at once, and the lead ends; the unlock goes unanswered: the one
            // sleeper on the clock is the unlock's timeout.
            try await eventually(
                "the lead to end and the unlock to wait for its timeout",
                observing: { (holders.working.value, leadership.isLeading, holders.clock.sleepers, ended.value) },
                until: { ($0.0.isEmpty && !$0.1 && $0.2 == 1) || $0.3 })
            #expect(!ended.value, "shutdown waits for the unlock until its timeout")
            holders.clock.advance(by: .seconds(4))
            // Should shutdown still wait, the server process continues when this returns and answers.
            try await eventually("shutdown to end while the server is still silent") { ended.value }
            return stopping
        }
        try await stopping.value
        #expect(!leadership.isLeading)
        try await eventually("the silent session to exit once it runs again", observing: { try await holders.lockHolderPid() }, until: { $0 == nil })
    }
}
