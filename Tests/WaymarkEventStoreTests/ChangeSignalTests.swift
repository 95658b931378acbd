import Testing
import WaymarkEventStore
import WaymarkTesting

/// The counter the workers' loops wait on, timed and untimed.
@Suite(.timeLimit(.minutes(1))) struct ChangeSignalTests {
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
        let waiter = Task { await signal.wait(after: signal.generation, timeout: .seconds(30), clock: clock) }
        while clock.sleepers == 0 { try await Task.sleep(for: .milliseconds(1)) }
        clock.advance(by: .seconds(30))
        await waiter.value
        #expect(signal.generation == 0)
    }

    @Test("a timed wait returns on a bump or on cancellation before its timeout, and leaves no timer behind")
    func timedWaitEndsEarly() async throws {
        let signal = ChangeSignal()
        let clock = TestClock()
        let bumped = Task { await signal.wait(after: signal.generation, timeout: .seconds(30), clock: clock) }
        while clock.sleepers == 0 { try await Task.sleep(for: .milliseconds(1)) }
        signal.bump()
        await bumped.value
        while clock.sleepers > 0 { try await Task.sleep(for: .milliseconds(1)) }

        let cancelled = Task { await signal.wait(after: signal.generation, timeout: .seconds(30), clock: clock) }
        while clock.sleepers == 0 { try await Task.sleep(for: .milliseconds(1)) }
        cancelled.cancel()
        await cancelled.value
        while clock.sleepers > 0 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(signal.generation == 1 && clock.now.offset == .zero)
    }
}
