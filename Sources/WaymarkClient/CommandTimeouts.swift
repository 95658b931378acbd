import Synchronization

/// The client's command timeouts: one watching task per client sleeps until the oldest command in
/// flight is due and cancels what is overdue, rather than a timer task per command (a sleeping
/// child task and its timer cost a busy client about a fifth of its CPU per command).
///
/// Every command gets the same timeout, so deadlines come in the order commands are registered and
/// the oldest one in flight is always the next due. The watcher runs only while commands are in
/// flight, on the configured clock (a test clock in tests).
final class CommandTimeouts: Sendable {
    private struct Entry {
        var deadline: Duration
        var cancel: @Sendable () -> Void
        var timedOut = false
    }

    private struct State {
        var nextId: UInt64 = 0
        var entries: [UInt64: Entry] = [:]
        /// Ids in registration (and so deadline) order; those before `head` are done with.
        var order: [UInt64] = []
        var head = 0
        var watching = false

        /// Drops the finished commands at the front, and those already cancelled for their timeout
        /// (`entries` keeps them for `finish`): one that ignores its cancellation must not hold
        /// every later id in `order`.
        mutating func dropFinished() {
            while head < order.count, entries[order[head]].map({ $0.timedOut }) ?? true { head += 1 }
            if head > 1_024 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }

        /// The deadline of the oldest command in flight that is not cancelled yet.
        mutating func nextDeadline() -> Duration? {
            dropFinished()
            for id in order[head...] {
                if let entry = entries[id], !entry.timedOut { return entry.deadline }
            }
            return nil
        }
    }

    let timeout: Duration
    private let state = Mutex(State())
    private let elapsed: @Sendable () -> Duration
    private let sleep: @Sendable (Duration) async throws -> Void

    init<C: Clock>(timeout: Duration, clock: C) where C.Duration == Duration {
        self.timeout = timeout
        let origin = clock.now
        elapsed = { origin.duration(to: clock.now) }
        sleep = { offset in try await clock.sleep(until: origin.advanced(by: offset), tolerance: nil) }
    }

    /// Runs `body` in a task of its own that is cancelled `timeout` after now; `timedOut` is what
    /// it throws when that cancellation made it fail. A body that finishes despite the
    /// cancellation (its commit went through) returns its value. The cancellation reaches a running
    /// statement as libpq's cancel request; until the body ends, `run` waits for it.
    func run<T: Sendable>(timedOut: @autoclosure () -> any Error, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let id = register(cancel: { task.cancel() })
        do {
            let value = try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
            finish(id)
            return value
        } catch {
            if finish(id) { throw timedOut() }
            throw error
        }
    }

    private func register(cancel: @escaping @Sendable () -> Void) -> UInt64 {
        let (id, start) = state.withLock { state -> (UInt64, Bool) in
            state.nextId &+= 1
            state.entries[state.nextId] = Entry(deadline: elapsed() + timeout, cancel: cancel)
            state.order.append(state.nextId)
            defer { state.watching = true }
            return (state.nextId, !state.watching)
        }
        if start { Task { await self.watch() } }
        return id
    }

    /// Forgets command `id`; whether the watcher had cancelled it for its timeout.
    @discardableResult
    private func finish(_ id: UInt64) -> Bool {
        state.withLock { state in
            let entry = state.entries.removeValue(forKey: id)
            state.dropFinished()
            return entry?.timedOut ?? false
        }
    }

    private func watch() async {
        while true {
            let next = state.withLock { state -> Duration? in
                guard let deadline = state.nextDeadline() else {
                    state.watching = false
                    return nil
                }
                return deadline
            }
            guard let next else { return }
            try? await sleep(next)
            let now = elapsed()
            let overdue = state.withLock { state -> [@Sendable () -> Void] in
                var cancels: [@Sendable () -> Void] = []
                var index = state.head
                while index < state.order.count {
                    let id = state.order[index]
                    index += 1
                    guard var entry = state.entries[id] else { continue }
                    guard entry.deadline <= now else { break }
                    if !entry.timedOut {
                        entry.timedOut = true
                        state.entries[id] = entry
                        cancels.append(entry.cancel)
                    }
                }
                return cancels
            }
            for cancel in overdue { cancel() }
        }
    }
}
