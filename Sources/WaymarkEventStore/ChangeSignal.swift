import Synchronization

/// A counter that tasks can wait on: `bump()` wakes every task waiting for a change.
public final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits begun and not yet returned.
        var live: Set<UInt64> = []
        /// Live waits released (timed out or cancelled) before they registered.
        var released: Set<UInt64> = []
    }

    private let state = Mutex(State())

    public init() {}

    public var generation: UInt64 { state.withLock { $0.generation } }

    public func bump() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            if state.waiters.isEmpty { return [] }
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the generation differs from `generation`, after `timeout` by `clock`, or on
    /// cancellation.
    public func wait(after generation: UInt64, timeout: Duration, clock: any Clock<Duration> = ContinuousClock()) async {
        // Changed already: no timer (a test clock then sees only waits that really wait).
        guard self.generation == generation else { return }
        let id = begin()
        // One task for the timer, cancelled when a change comes first: loops wait once per batch
        // or delivery, and a task group of a timer and a waiter cost twice the tasks.
        let timer = Task {
            guard (try? await clock.sleep(for: timeout)) != nil else { return }
            self.release(id)
        }
        await waitForChange(after: generation, id: id)
        timer.cancel()
    }

    /// Returns once the generation differs from `generation`, or on cancellation: for a loop that
    /// every change it waits for bumps, without a timer per wait.
    public func wait(after generation: UInt64) async {
        guard self.generation == generation else { return }
        await waitForChange(after: generation, id: begin())
    }

    private func begin() -> UInt64 {
        state.withLock { state in
            state.nextWaiter &+= 1
            state.live.insert(state.nextWaiter)
            return state.nextWaiter
        }
    }

    /// Ends wait `id` now (its timeout or cancellation), or as soon as it registers.
    private func release(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            if state.live.contains(id) { state.released.insert(id) }
            return nil
        }
        waiter?.resume()
    }

    private func waitForChange(after generation: UInt64, id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != generation || state.released.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            release(id)
        }
        state.withLock { state in
            state.live.remove(id)
            state.released.remove(id)
        }
    }
}
