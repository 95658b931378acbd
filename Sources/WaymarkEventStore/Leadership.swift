import Logging
import ServiceLifecycle
import Synchronization
import WaymarkPostgres

/// One process at a time does a piece of work (builds a projection, fires deadlines, delivers
/// notifications): the one holding a session-level advisory lock on `key`, on a connection of its
/// own. Every process runs a `Leadership` for the key; one leads and runs `work`, the others wait
/// as standbys and try again every `retryInterval`.
///
/// The lead ends when:
/// - the lock's connection is lost (the database restarted, the backend was terminated): the
///   check every `checkInterval` notices, `work` is cancelled, and this process competes again
///   (a standby may have taken over meanwhile);
/// - a check gets no answer within `checkTimeout` (a network partition, a server that hangs): the
///   same, and the connection is dropped without waiting for it;
/// - `work` throws: it is logged, the lead is given up and competed for again after `retryInterval`;
/// - graceful shutdown or cancellation: `work` is cancelled and the lock released (unlocked, the
///   connection closed), so a standby takes over within its `retryInterval`; an unlock or close
///   that gets no answer within `checkTimeout` is given up and the connection dropped, so shutdown
///   does not hang on a silent server (the server then frees the lock only once it notices);
/// - `work` returns: the lead is given up and `run()` returns.
///
/// A lost lead is noticed only at the next check, so for up to `checkInterval` plus `checkTimeout`
/// (plus the time `work` takes to stop once cancelled) two processes may both be running `work`:
/// leadership saves duplicated effort, it does not make effects exactly-once. Work that must not
/// be done twice takes its own lock in the transaction that does it (a subscription's batch lock,
/// `FOR UPDATE SKIP LOCKED` on a claimed row).
public final class Leadership: Service, Sendable {
    public typealias Work = @Sendable () async throws -> Void

    /// What is led; include the store's schema (`Leadership.key(_:_:in:)`) so that two schemas in
    /// one database do not share a leader.
    public let key: String
    let store: EventStore
    let retryInterval: Duration
    let checkInterval: Duration
    let checkTimeout: Duration
    let clock: any Clock<Duration>
    let logger: Logger
    let work: Work
    private let leading = Atomic(false)

    /// - Parameters:
    ///   - retryInterval: How often a standby tries to take the lead, and the pause after a lead
    ///     ended by a failure.
    ///   - checkInterval: How often the leader checks that its lock's connection is still there.
    ///   - checkTimeout: How long a statement on the lock's connection (taking the lock, a check,
    ///     the unlock) may go unanswered before the connection is dropped; by default four times
    ///     `checkInterval`.
    ///   - clock: Measures the intervals and the timeout (a test clock in tests).
    public init(
        store: EventStore, key: String, retryInterval: Duration = .seconds(2), checkInterval: Duration = .milliseconds(500),
        checkTimeout: Duration? = nil, clock: any Clock<Duration> = ContinuousClock(), logger: Logger, work: @escaping Work
    ) {
        self.store = store
        self.key = key
        self.retryInterval = retryInterval
        self.checkInterval = checkInterval
        self.checkTimeout = checkTimeout ?? checkInterval * 4
        self.clock = clock
        self.logger = logger
        self.work = work
    }

    /// The key for `name` of `role` (a projection's name, a worker's) in `store`'s schema:
    /// `waymark-<role>:<schema>:<name>`.
    public static func key(_ role: String, _ name: String, in store: EventStore) -> String { "waymark-\(role):\(store.schema):\(name)" }

    /// Whether this process leads now (for status pages and tests).
    public var isLeading: Bool { leading.load(ordering: .relaxed) }

    /// Competes for the lead and runs `work` while leading, until graceful shutdown or
    /// cancellation (which end it quietly, also while it waits as a standby) or until `work` returns.
    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await self.compete() }
    }

    private enum Outcome {
        case finished
        case stopped
        case lost
        /// A check got no answer in time: the connection is not waited for again.
        case unanswered
    }

    private func compete() async throws {
        while !Task.isCancelled {
            guard let connection = await lockedConnection() else {
                try? await clock.sleep(for: retryInterval)
                continue
            }
            leading.store(true, ordering: .relaxed)
            logger.info("leading", metadata: ["waymark.lead": "\(key)"])
            let outcome = await lead(holding: connection)
            leading.store(false, ordering: .relaxed)
            await release(connection, after: outcome)
            switch outcome {
            case .finished: return
            case .stopped: continue
            case .lost, .unanswered: try? await clock.sleep(for: retryInterval)
            }
        }
    }

    /// A new connection that holds the lock, or nil: the lock is taken, the database cannot be
    /// reached or does not answer in time, or the task was cancelled.
    private func lockedConnection() async -> PostgresConnection? {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(store.pool.configuration)
        } catch {
            logger.warning("cannot connect to compete for a lead", metadata: ["waymark.lead": "\(key)", "waymark.error": "\(error)"])
            return nil
        }
        let key = self.key
        switch await bounded(
            by: checkTimeout, on: clock, cancellable: true,
            {
                try await connection.query("SELECT pg_try_advisory_lock(hashtextextended(\(key), 0))")[0].decode(Bool.self, at: 0)
            })
        {
        case .answered(.success(true)):
            return connection
        case .answered(.success(false)):
            await connection.close()
        case .answered(.failure(let error)):
            logger.warning("cannot compete for a lead", metadata: ["waymark.lead": "\(key)", "waymark.error": "\(error)"])
            await connection.close()
        case .timedOut:
            logger.warning("no answer when competing for a lead, the connection is dropped", metadata: ["waymark.lead": "\(key)"])
            connection.abort()
        case .cancelled:
            // The lock may have been granted meanwhile: dropping the session frees it.
            connection.abort()
        }
        return nil
    }

    /// Gives the lead up: unlocks, so that a standby's next try succeeds (the server would release
    /// a closed session's lock only once its backend has exited), then closes the connection. Each
    /// step waits at most `checkTimeout` (graceful shutdown has cancelled the task, so cancellation
    /// does not cut it short); past that the connection is dropped.
    private func release(_ connection: PostgresConnection, after outcome: Outcome) async {
        let key = self.key
        guard outcome != .unanswered else {
            connection.abort()
            return
        }
        if connection.isHealthy {
            let unlocked = await bounded(by: checkTimeout, on: clock, cancellable: false) {
                _ = try await connection.query("SELECT pg_advisory_unlock(hashtextextended(\(key), 0))")
            }
            guard case .answered = unlocked else {
                logger.warning("no answer to the unlock, the lead's connection is dropped", metadata: ["waymark.lead": "\(key)"])
                connection.abort()
                return
            }
        }
        let closed = await bounded(by: checkTimeout, on: clock, cancellable: false) { await connection.close() }
        guard case .answered = closed else {
            logger.warning("the lead's connection did not close in time, it is dropped", metadata: ["waymark.lead": "\(key)"])
            connection.abort()
            return
        }
    }

    /// Runs `work` beside a watch on the lock's connection; whichever ends first ends the other.
    private func lead(holding connection: PostgresConnection) async -> Outcome {
        await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                do {
                    try await self.work()
                    return .finished
                } catch  where Self.isCancellation(error) {
                    return .stopped
                } catch {
                    self.logger.warning("work interrupted, the lead is given up", metadata: ["waymark.lead": "\(self.key)", "waymark.error": "\(error)"])
                    return .lost
                }
            }
            group.addTask { await self.watch(connection) }
            let first = await group.next() ?? .stopped
            group.cancelAll()
            return first
        }
    }

    /// Checks the lock's connection every `checkInterval` until a check fails or gets no answer
    /// within `checkTimeout`, or the task is cancelled.
    private func watch(_ connection: PostgresConnection) async -> Outcome {
        while true {
            do {
                try await clock.sleep(for: checkInterval)
            } catch {
                return .stopped
            }
            switch await bounded(by: checkTimeout, on: clock, cancellable: true, { _ = try await connection.query("SELECT 1") }) {
            case .answered(.success):
                continue
            case .answered(.failure(let error)):
                if Self.isCancellation(error) { return .stopped }
                logger.warning("lead lost", metadata: ["waymark.lead": "\(key)", "waymark.error": "\(error)"])
                return .lost
            case .timedOut:
                logger.warning(
                    "lead lost: its connection did not answer a check in time", metadata: ["waymark.lead": "\(key)", "waymark.timeout": "\(checkTimeout)"])
                return .unanswered
            case .cancelled:
                return .stopped
            }
        }
    }

    /// Cancellation ends a lead quietly: the task's own, or a statement it cancelled.
    private static func isCancellation(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        if let error = error as? PostgresError, error.code == PostgresError.cancelled { return true }
        return Task.isCancelled
    }
}
