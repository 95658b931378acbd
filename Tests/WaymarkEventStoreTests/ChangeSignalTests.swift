import Testing
import WaymarkEventStore
import WaymarkTesting

/// The counter the workers' loops wait on, timed and untimed.
@Suite(.scaledTimeLimit(minutes: 3)) struct ChangeSignalTests {
    @Test("an untimed wait returns on a bump, at once when one came already, and on cancellation")
    func untimedWait() async throws {
        let signal = ChangeSignal()
        let generation = signal.generation
        let (waiting, waits) = AsyncStream<Void>.makeStream()
        let waiter = Task {
            waits.yield()
            await signal.wait(after: generation)
            return signal.generation
        }
        for await _ in waiting { break }
        signal.bump()
        #expect(await waiter.value == generation + 1)
        // Bumped before the wait: it does not wait.
        await signal.wait(after: generation)

        let stuck = Task { await signal.wait(after: signal.generation) }
        stuck.cancel()
        await stuck.value
        #expect(signal.generation == generation + 1, "cancelled, not bumped")
    }

    @Test("a timed wait returns by its timeout when nothing changes")
    func timedWait() async throws {
        let signal = ChangeSignal()
        let clock = TestClock()
        let waiter = try await Self.timedWait(on: signal, clock: clock)
        clock.advance(by: .seconds(30))
        await waiter.value
        #expect(signal.generation == 0)
    }

    @Test("a timed wait returns on a bump or on cancellation before its timeout, and leaves no timer behind")
    func timedWaitEndsEarly() async throws {
        let signal = ChangeSignal()
        let clock = TestClock()
        let bumped = try await Self.timedWait(on: signal, clock: clock)
        signal.bump()
        await bumped.value
        while clock.sleepers > 0 { try await Task.sleep(for: .milliseconds(1)) }

        let cancelled = try await Self.timedWait(on: signal, clock: clock)
        cancelled.cancel()
        await cancelled.value
        while clock.sleepers > 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(signal.generation == 1 && clock.now.offset == .zero)
    }

    /// A wait of 30 s on `clock`, started, its timer asleep.
    static func timedWait(on signal: ChangeSignal, clock: TestClock) async throws -> Task<Void, Never> {
        let waiter = Task { await signal.wait(after: signal.generation, timeout: .seconds(30), clock: clock) }
        while clock.sleepers == 0 { try await Task.sleep(for: .milliseconds(1)) }
        return waiter
    }
}
