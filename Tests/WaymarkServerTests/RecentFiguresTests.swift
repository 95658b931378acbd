import Foundation
import Synchronization
import Testing
import WaymarkEventStore
import WaymarkTesting

@testable import WaymarkConsole

@Suite("Console: figures over history kept for a while")
struct RecentFiguresTests {
    @Test(
        "the first request waits; fresh figures are reused; stale ones are served while one computation runs behind; a failure keeps nothing; concurrent requests share one computation"
    )
    func keptWhileFresh() async throws {
        let clock = TestClock()
        let origin = Date(timeIntervalSince1970: 1_800_000_000)
        let figures = RecentFigures<Int>(maxAge: .seconds(60), time: WallTime(clock, origin: origin))
        let computations = Computations()
        let count: @Sendable () async throws -> Int = { computations.next() }
        let first = try await figures.figures("order-to-cash", compute: count)
        #expect(first.value == 1 && first.computedAt == origin)
        clock.advance(by: .seconds(59))
        let reused = try await figures.figures("order-to-cash", compute: count)
        #expect(reused.value == 1 && reused.computedAt == origin)
        // Another key has figures of its own.
        #expect(try await figures.figures("renewal", compute: count).value == 2)

        // Stale: served as they are, while one computation runs behind; the next request gets its figures.
        clock.advance(by: .seconds(1))
        let (gate, open) = AsyncStream<Void>.makeStream()
        let stale = try await figures.figures("order-to-cash") {
            for await _ in gate {}
            return computations.next()
        }
        #expect(stale.value == 1 && stale.computedAt == origin)
        #expect(try await figures.figures("order-to-cash", compute: count).value == 1, "no second computation while one runs")
        open.finish()
        await figures.settled("order-to-cash")
        let fresh = try await figures.figures("order-to-cash", compute: count)
        #expect(fresh.value == 3 && fresh.computedAt == origin.addingTimeInterval(60))
        #expect(computations.count == 3)

        // A failure behind stale figures keeps them; the next request computes again.
        struct Unavailable: Error {}
        clock.advance(by: .seconds(60))
        #expect(try await figures.figures("order-to-cash") { throw Unavailable() }.value == 3)
        await figures.settled("order-to-cash")
        #expect(try await figures.figures("order-to-cash", compute: count).value == 3)
        await figures.settled("order-to-cash")
        #expect(try await figures.figures("order-to-cash", compute: count).value == 4)
        // With nothing kept, the failure reaches the request, and is not kept either.
        await #expect(throws: Unavailable.self) { try await figures.figures("support-case") { throw Unavailable() } }
        #expect(try await figures.figures("support-case", compute: count).value == 5)

        // Ten requests at once for figures nobody has: one computation, all wait for it.
        let (gate2, open2) = AsyncStream<Void>.makeStream()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await figures.figures("new-business") {
                        for await _ in gate2 {}
                        return computations.next()
                    }.value
                }
            }
            // Whenever each request comes, before or after the computation ends, it gets its figures.
            open2.finish()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: 6, count: 10))
        #expect(computations.count == 6)
    }
}

/// Counts computations: each returns how many there have been.
private final class Computations: Sendable {
    private let done = Mutex(0)

    var count: Int { done.withLock { $0 } }

    func next() -> Int {
        done.withLock {
            $0 += 1
            return $0
        }
    }
}
