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
/// - `work` throws: it is logged, the lead is given up and competed for again after `retryInterval`;
/// - graceful shutdown or cancellation: `work` is cancelled and the connection closed, which
///   releases the lock at once, so a standby takes over within its `retryInterval`;
/// - `work` returns: the lead is given up and `run()` returns.
///
/// A lost lead is noticed only at the next check, so for up to `checkInterval` two processes may
/// both be running `work`: leadership saves duplicated effort, it does not make effects exactly-once.
/// Work that must not be done twice takes its own lock in the transaction that does it (a
/// subscription's batch lock, `FOR UPDATE SKIP LOCKED` on a claimed row).
public final class Leadership: Service, Sendable {
    public typealias Work = @Sendable () async throws -> Void

    /// What is led; include the store's schema (`Leadership.key(_:_:in:)`) so that two schemas in
    /// one database do not share a leader.
    public let key: String
    let store: EventStore
    let retryInterval: Duration
    let checkInterval: Duration
    let clock: any Clock<Duration>
    let logger: Logger
    let work: Work
    private let leading = Atomic(false)

    /// - Parameters:
    ///   - retryInterval: How often a standby tries to take the lead, and the pause after a lead
    ///     ended by a failure.
    ///   - checkInterval: How often the leader checks that its lock's connection is still there.
    ///   - clock: Measures both intervals (a test clock in tests).
    public init(
        store: EventStore, key: String, retryInterval: Duration = .seconds(2), checkInterval: Duration = .milliseconds(500),
        clock: any Clock<Duration> = ContinuousClock(), logger: Logger, work: @escaping Work
    ) {
        self.store = store
        self.key = key
        self.retryInterval = retryInterval
        self.checkInterval = checkInterval
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
    }

    private func compete() async throws {
        while !Task.isCancelled {
            let connection: PostgresConnection
            do {
                connection = try await PostgresConnection.connect(store.pool.configuration)
            } catch {
                logger.warning("cannot connect to compete for a lead", metadata: ["waymark.lead": "\(key)", "waymark.error": "\(error)"])
                try? await clock.sleep(for: retryInterval)
                continue
            }
            let locked: Bool
            do {
                locked = try await connection.query("SELECT pg_try_advisory_lock(hashtextextended(\(key), 0))")[0].decode(Bool.self, at: 0)
            } catch {
                locked = false
                if !Task.isCancelled {
                    logger.warning("cannot compete for a lead", metadata: ["waymark.lead": "\(key)", "waymark.error": "\(error)"])
                }
            }
            guard locked else {
                await connection.close()
                try? await clock.sleep(for: retryInterval)
                continue
            }
            leading.store(true, ordering: .relaxed)
            logger.info("leading", metadata: ["waymark.lead": "\(key)"])
            let outcome = await lead(holding: connection)
            leading.store(false, ordering: .relaxed)
            await release(connection)
            switch outcome {
            case .finished: return
            case .stopped: continue
            case .lost: try? await clock.sleep(for: retryInterval)
            }
        }
    }

    /// Gives the lead up: unlocks, so that a standby's next try succeeds (the server would release
    /// a closed session's lock only once its backend has exited), then closes the connection.
    private func release(_ connection: PostgresConnection) async {
        if connection.isHealthy {
            // Not cancelled with the task that ends the lead (graceful shutdown cancels it).
            let key = self.key
            await Task { _ = try? await connection.query("SELECT pg_advisory_unlock(hashtextextended(\(key), 0))") }.value
        }
        await connection.close()
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
            group.addTask {
                while true {
                    do {
                        try await self.clock.sleep(for: self.checkInterval)
                        _ = try await connection.query("SELECT 1")
                    } catch  where Self.isCancellation(error) {
                        return .stopped
                    } catch {
                        self.logger.warning("lead lost", metadata: ["waymark.lead": "\(self.key)", "waymark.error": "\(error)"])
                        return .lost
                    }
                }
            }
            let first = await group.next() ?? .stopped
            group.cancelAll()
            return first
        }
    }

    /// Cancellation ends a lead quietly: the task's own, or a statement it cancelled.
    private static func isCancellation(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        if let error = error as? PostgresError, error.code == PostgresError.cancelled { return true }
        return Task.isCancelled
    }
}
