import Synchronization

/// What became of an operation that was awaited for a limited time.
enum Bounded<Value: Sendable>: Sendable {
    case answered(Result<Value, any Error>)
    /// The time ran out first.
    case timedOut
    /// The waiting task was cancelled first.
    case cancelled
}

/// Runs `operation` in a task of its own and waits for it at most `timeout` by `clock`, and, when
/// `cancellable`, only until the waiting task is cancelled.
///
/// Giving up does not cancel `operation`: a statement on a connection whose server does not answer
/// cannot be cancelled either (libpq's cancel request would open a connection to the same silent
/// server and wait for it). The caller drops such a connection (`PostgresConnection.abort()`),
/// which ends the statement.
func bounded<Value: Sendable>(
    by timeout: Duration, on clock: any Clock<Duration>, cancellable: Bool,
    _ operation: @escaping @Sendable () async throws -> Value
) async -> Bounded<Value> {
    if cancellable && Task.isCancelled { return .cancelled }
    let outcome = FirstOutcome<Bounded<Value>>()
    Task {
        do {
            outcome.settle(.answered(.success(try await operation())))
        } catch {
            outcome.settle(.answered(.failure(error)))
        }
    }
    let timer = Task {
        do {
            try await clock.sleep(for: timeout)
            outcome.settle(.timedOut)
        } catch {
            // Cancelled once the operation answered.
        }
    }
    let result = await withTaskCancellationHandler {
        await outcome.value()
    } onCancel: {
        if cancellable { outcome.settle(.cancelled) }
    }
    // A timer left sleeping would hold a test clock's `sleepers` count up.
    timer.cancel()
    return result
}

/// The first of several outcomes that race, delivered to one waiter; later ones are ignored.
private final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiter: CheckedContinuation<Value, Never>?
    }
    private let state = Mutex(State())

    func settle(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, Never>? in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// The first outcome, once there is one (only one caller may wait).
    func value() async -> Value {
        await withCheckedContinuation { continuation in
            let settled = state.withLock { state -> Value? in
                if let value = state.value { return value }
                state.waiter = continuation
                return nil
            }
            if let settled { continuation.resume(returning: settled) }
        }
    }
}
