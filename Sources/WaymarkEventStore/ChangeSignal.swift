import Synchronization

/// A counter that tasks can wait on: `bump()` wakes every task waiting for a change.
public final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
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
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(for: timeout) }
            group.addTask { await self.waitForChange(after: generation) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once the generation differs from `generation`, or on cancellation: for a loop that
    /// every change it waits for bumps, without a timer per wait.
    public func wait(after generation: UInt64) async {
        guard self.generation == generation else { return }
        await waitForChange(after: generation)
    }

    private func waitForChange(after generation: UInt64) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != generation || state.cancelled.remove(id) != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume()
        }
        state.withLock { _ = $0.cancelled.remove(id) }
    }
}
