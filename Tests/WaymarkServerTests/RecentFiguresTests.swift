import Foundation
import Synchronization
import Testing
import WaymarkEventStore
import WaymarkTesting

@testable import WaymarkConsole

@Suite("Console: figures over history kept for a while")
struct RecentFiguresTests {
    @Test("computed once per key while fresh, again once older than the limit; a failure is not kept; concurrent requests share one computation")
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
        clock.advance(by: .seconds(1))
        let fresh = try await figures.figures("order-to-cash", compute: count)
        #expect(fresh.value == 3 && fresh.computedAt == origin.addingTimeInterval(60))

        struct Unavailable: Error {}
        clock.advance(by: .seconds(60))
        await #expect(throws: Unavailable.self) { try await figures.figures("order-to-cash") { throw Unavailable() } }
        #expect(try await figures.figures("order-to-cash", compute: count).value == 4, "the failure was not kept")

        // Ten requests at once while the figures are stale: one computation.
        clock.advance(by: .seconds(60))
        let (gate, open) = AsyncStream<Void>.makeStream()
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await figures.figures("order-to-cash") {
                        for await _ in gate {}
                        return computations.next()
                    }.value
                }
            }
            // Whenever each request comes, before or after the computation ends, it gets its figures.
            open.finish()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values == Array(repeating: 5, count: 10))
        #expect(computations.count == 5)
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
