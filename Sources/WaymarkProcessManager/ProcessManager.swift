import Foundation
import Logging
import ServiceLifecycle
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Reacts to journeys that stall, SLA clocks that cross their thresholds and escalation ladders:
/// derives deadlines from the log (`DeadlineScheduler`, a subscription to the journey, customer
/// and consent categories) and fires them when due (`DeadlineFiring`), recording each decision as
/// an event on the journey's stream (or, for a consent decision a downstream system has not
/// applied in time, `ConsentPropagationOverdue` on the subject's consent stream).
///
/// Several instances may run at once, on one machine or several: the scheduler's batches take the
/// subscription's lock, and each deadline is claimed by one instance and fired once.
///
/// Wake-ups: the earliest due time of the table, the scheduler's commits (in this process at
/// once, from others by NOTIFY on `channel`), and at least every `maxIdle`. Due times are in
/// `time` (a test clock in tests); the scheduler's polls and the retries after a failure are
/// infrastructure and run on the continuous clock, so a test clock that stands still stalls no
/// subscription.
public final class ProcessManager: Service, Sendable {
    public let store: EventStore
    public let instance: String
    let subscription: CatchUpSubscription
    let firing: DeadlineFiring
    let scheduled = ChangeSignal()
    let time: WallTime
    let maxIdle: Duration
    let logger: Logger

    /// The subscription that keeps the deadline table.
    public static let subscriptionName = "process-manager:deadlines"

    /// - Parameters:
    ///   - definitions: The journeys' definitions, those recorded in the log included.
    ///   - time: The wall time deadlines are due in (a test clock in tests).
    ///   - instance: Names this instance in the events it records and in `status`.
    public init(
        store: EventStore, definitions: DefinitionLibrary, settings: ProcessManagerSettings, codec: EventCodec = .standard, time: WallTime = .system,
        instance: String? = nil, batchSize: Int = 500, maxIdle: Duration = .seconds(30), logger: Logger
    ) throws {
        self.store = store
        let instance = instance ?? Self.defaultInstance()
        self.instance = instance
        self.time = time
        self.maxIdle = maxIdle
        self.logger = logger
        let scheduler = DeadlineScheduler(
            definitions: definitions, settings: settings, codec: codec, timelines: definitions.catalog.calendars.mapValues { BusinessTimeline($0) },
            consent: ConsentScheduler(
                purposes: definitions.catalog.consentPurposes, times: definitions.catalog.consentPropagation, codec: codec),
            channel: Self.channel(store), scheduled: scheduled, logger: logger)
        subscription = try CatchUpSubscription(
            store: store, name: Self.subscriptionName, source: .categories([CustomerDecider.category, JourneyDecider.category, ConsentDecider.category]),
            batchSize: batchSize,
            logger: logger, handler: { events, transaction in try await scheduler.handle(events, in: transaction) })
        firing = DeadlineFiring(store: store, settings: settings, codec: codec, instance: instance, time: time, batchSize: batchSize, logger: logger)
    }

    /// The NOTIFY channel of `store`'s process managers.
    public static func channel(_ store: EventStore) -> String { String("waymark_pm_\(store.schema)".prefix(63)) }

    static func defaultInstance() -> String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
    }

    public func run() async throws {
        try await ProcessManagerSchema.requireMigrated(store, logger: logger)
        let now = time.now()
        try await store.pool.query(
            """
            INSERT INTO pm_instances (instance, started_at, seen_at) VALUES (\(instance), \(now), \(now))
            ON CONFLICT (instance) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at
            """)
        let scheduled = self.scheduled
        let listener = PostgresListener(configuration: store.pool.configuration, channels: [Self.channel(store)], logger: logger) { _ in scheduled.bump() }
        listener.start()
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.subscription.run() }
                group.addTask { try await cancelWhenGracefulShutdown { try await self.fireLoop() } }
            }
        } catch is CancellationError {
        } catch let error as PostgresError where error.code == PostgresError.cancelled {
        } catch {
            await listener.stop()
            throw error
        }
        await listener.stop()
    }

    /// Waits until the scheduler has folded every journey and customer event up to the log's head
    /// (now), whichever instance folded it; false after `timeout`.
    public func waitUntilScheduled(timeout: Duration = .seconds(30)) async throws -> Bool {
        try await subscription.waitUntilCaughtUp(timeout: timeout)
    }

    /// The log's head as read at a wall time: once the scheduler has folded up to it, every
    /// deadline due by then was scheduled knowing every journey and customer event recorded before.
    private struct Frontier {
        var head: GlobalPosition?
        var readAt: Date
    }

    /// How far deadlines may fire: the time of the last head the scheduler has reached. A customer's
    /// tier change is not on the journey's stream, so the version check alone would let a deadline
    /// fire on a schedule the scheduler has not yet moved (while it catches up after downtime).
    private func frontier(_ candidate: inout Frontier, reached: inout Date, seen: inout GlobalPosition?) async throws {
        let checkpoint = try await subscription.checkpoint()
        if let seen, checkpoint < seen {
            // The checkpoint went back (a rebuild, a migration that re-derives the deadlines): what
            // was reached before says nothing about the schedule being derived again.
            reached = .distantPast
            candidate = Frontier(head: nil, readAt: .distantPast)
        }
        seen = checkpoint
        if candidate.head.map({ checkpoint >= $0 }) ?? true { reached = max(reached, candidate.readAt) }
        let readAt = time.now()
        candidate = Frontier(head: try await store.head().lastPosition, readAt: readAt)
        if candidate.head.map({ checkpoint >= $0 }) ?? true { reached = max(reached, readAt) }
    }

    private func fireLoop() async throws {
        var failures = 0
        var races = 0
        var candidate = Frontier(head: nil, readAt: .distantPast)
        var reached = Date.distantPast
        var seen: GlobalPosition?
        while !Task.isCancelled {
            let generation = scheduled.generation
            let round: DeadlineFiring.Round
            do {
                try await frontier(&candidate, reached: &reached, seen: &seen)
                round = try await firing.fireDue(upTo: reached)
                failures = 0
                races = 0
            } catch let error as WrongExpectedVersionError where races < 3 {
                // A journey moved between the round's read of its version and its append (the
                // department acted as its deadline came due): nothing was fired. The next round
                // finds the journey ahead of the scheduler's watch and leaves it to the scheduler.
                races += 1
                logger.debug("a journey moved while its deadline fired; the round goes again", metadata: ["waymark.stream": "\(error.streamName)"])
                continue
            } catch let error where !(error is CancellationError) {
                // Shutting down: a statement or a wait for a connection cancelled is no failure.
                if Task.isCancelled { return }
                // A journey appended to meanwhile (the append's expected version), a lost
                // connection: nothing was fired; the next round sees the journey as it is.
                failures += 1
                let delay = Duration.milliseconds(min(20 << min(failures, 8), 5_000))
                logger.warning(
                    "firing deadlines failed, trying again", metadata: ["waymark.error": "\(error)", "waymark.retry_in": "\(delay)"])
                try await ContinuousClock().sleep(for: delay)
                continue
            }
            if round.fired > 0 {
                logger.debug("deadlines fired", metadata: ["waymark.fired": "\(round.fired)", "waymark.instance": "\(instance)"])
            }
            if round.full && round.fired > 0 { continue }
            let next = try await firing.nextDue()
            let beyondFrontier = next.map { $0 > reached && $0 <= time.now() } ?? false
            if round.behind > 0 || beyondFrontier {
                // The scheduler folds those journeys' newest events first; its commit wakes this.
                await scheduled.wait(after: generation, timeout: .milliseconds(100))
                continue
            }
            var wait = maxIdle
            if let next {
                wait = min(wait, WallTime.duration(next.timeIntervalSince(time.now())))
            }
            if wait > .zero {
                await scheduled.wait(after: generation, timeout: wait, clock: time.clock)
            } else if round.claimed == 0 {
                // Due, yet this round could claim none: another instance holds them. Look again
                // shortly rather than at once and again.
                await scheduled.wait(after: generation, timeout: .milliseconds(50))
            }
        }
    }
}
