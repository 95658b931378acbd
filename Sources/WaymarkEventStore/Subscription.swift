import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WaymarkPostgres

/// Which events a subscription follows.
public enum SubscriptionSource: Sendable, Equatable {
    case all
    case category(String)
    /// The events of several categories in global order, each read from its own range of the
    /// category index and merged; the checkpoint passes other categories' events at the end.
    case categories([String])
}

/// A durable subscriber: catches up from its stored checkpoint, then follows new events live.
///
/// Each batch runs in one transaction: the subscription's advisory lock is taken, the events after
/// the checkpoint are read, `handler` does its work in the same `Transaction`, and the new
/// checkpoint is written before the commit. The handler's writes and the checkpoint commit or roll
/// back together, so after a crash the batch is delivered again, never lost; and two instances of
/// one subscription never handle the same batch at once (the second waits on the lock).
///
/// A batch's transaction id comes with its first write. From then until it commits, readers of the
/// log see no event committed after it (the horizon), so a handler should read and compute first
/// and write last. When the handler appends to a stream that a newer transaction wrote meanwhile,
/// the order rule refuses the append and the whole batch runs again at once in a new transaction,
/// so a handler may see a batch more than once before it commits. Database effects in the
/// transaction happen exactly once; anything else belongs in `Transaction.afterCommit`, which runs
/// only for the attempt that committed.
///
/// Subscriptions of one process that follow the log side by side (projections catching up) can
/// share a `LogPageCache`: each stretch of log is then read from the database once between them.
///
/// With `synchronousCommit` false a batch commits without waiting for its commit record to
/// reach disk (`synchronous_commit` off for its transaction alone). That suits handlers whose
/// writes are derived from the log and nothing else, such as read models: a server crash can
/// lose the last such commits, each with its checkpoint, so those batches are handled again
/// from the log, which commits durably. A transaction that commits durably after reading such
/// a write flushes it too (the server writes its log to disk in order). A handler that appends
/// events or acts outside the database keeps the default.
///
/// Wake-ups: in-process appends wake it at once; appends from other processes via LISTEN on the
/// store's channel; and it polls every `pollInterval` regardless, so a missed notification only
/// delays delivery. Its polls and retry delays are timed by `clock` (a test clock in tests: one
/// never advanced leaves only the wake-ups).
public final class CatchUpSubscription: Service, Sendable {
    public typealias Handler = @Sendable (_ events: [RecordedEvent], _ transaction: Transaction) async throws -> Void

    public let name: String
    public let source: SubscriptionSource
    let store: EventStore
    let batchSize: Int
    let pollInterval: Duration
    let clock: any Clock<Duration>
    let listen: Bool
    let handler: Handler
    let pages: LogPageCache?
    /// With `pages`: waits for room rather than reading alone while it catches up (see `LogPageCache`).
    let paced: Bool
    /// Whether the last batch reached the readable end: a paced subscription there reads alone
    /// rather than wait for the others (until a batch ends short of the end again).
    private let atEnd = Atomic(false)
    /// What the handler gets of each event's metadata.
    let metadata: MetadataFields
    /// A subscription to one category keeps its checkpoint at the category's last event while only
    /// other categories' events come (no write, so no transaction id, per idle poll), until the
    /// log has moved this many transactions past the stored checkpoint: then it writes where it is.
    let idleCheckpointSpan: UInt64
    /// Whether a batch's commit waits for its commit record to reach disk (see the type's notes).
    let synchronousCommit: Bool
    let logger: Logger
    let metrics: EventStoreMetrics.Subscription

    public init(
        store: EventStore, name: String, source: SubscriptionSource = .all, batchSize: Int = 500,
        pollInterval: Duration = .seconds(1), listen: Bool = true, pages: LogPageCache? = nil, paced: Bool = false,
        metadata: MetadataFields = .all, clock: any Clock<Duration> = ContinuousClock(), idleCheckpointSpan: UInt64 = 100_000,
        synchronousCommit: Bool = true, logger: Logger? = nil, handler: @escaping Handler
    ) throws {
        try EventStore.validateName(name, what: "subscription name")
        switch source {
        case .all: break
        case .category(let category): try EventStore.validateCategory(category)
        case .categories(let categories):
            guard !categories.isEmpty else { throw EventStoreError(.invalidInput, "a subscription to categories needs at least one") }
            for category in categories { try EventStore.validateCategory(category) }
        }
        guard (1...Self.maxBatchSize).contains(batchSize) else {
            throw EventStoreError(.invalidInput, "a subscription's batch size must be between 1 and \(Self.maxBatchSize), not \(batchSize)")
        }
        self.store = store
        self.name = name
        self.source = source
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.clock = clock
        self.listen = listen
        self.handler = handler
        self.pages = pages
        self.paced = paced
        self.metadata = metadata
        self.idleCheckpointSpan = idleCheckpointSpan
        self.synchronousCommit = synchronousCommit
        self.logger = logger ?? store.logger
        self.metrics = EventStoreMetrics.Subscription(name: name)
    }

    /// The stored checkpoint, `.start` when the subscription never ran.
    public func checkpoint() async throws -> GlobalPosition {
        let rows = try await store.pool.query("SELECT tx_id, global_id FROM subscription_checkpoints WHERE subscription_name = \(name)")
        return try rows.first.map { try GlobalPosition($0) } ?? .start
    }

    /// Waits until this subscription has handled every event of its source up to `head` (default:
    /// the log's head now), whichever instance handles it; returns false after `timeout`.
    /// Tools and tests use it to wait for a subscription to catch up.
    public func waitUntilCaughtUp(to head: LogHead? = nil, timeout: Duration = .seconds(30)) async throws -> Bool {
        var target = head
        if target == nil { target = try await store.head() }
        guard let last = target?.lastPosition else { return true }
        let deadline = ContinuousClock.now + timeout
        while true {
            let generation = store.appended.generation
            let checkpoint = try await checkpoint()
            if checkpoint >= last { return true }
            if case .category(let category) = source {
                // The checkpoint stops at the category's last event; none may lie beyond it up to `last`.
                let pending = try await store.pool.query(
                    """
                    SELECT EXISTS (SELECT 1 FROM events
                        WHERE (category, tx_id, global_id) > (\(category), \(checkpoint.transactionId)::xid8, \(checkpoint.sequence))
                          AND (category, tx_id, global_id) <= (\(category), \(last.transactionId)::xid8, \(last.sequence)))
                    """)[0].decode(Bool.self, at: 0)
                if !pending { return true }
            }
            if ContinuousClock.now >= deadline { return false }
            await store.appended.wait(after: generation, timeout: .milliseconds(20))
        }
    }

    /// Runs until cancelled or until graceful shutdown.
    public func run() async throws {
        var listener: PostgresListener?
        if listen {
            let signal = store.appended
            let started = PostgresListener(configuration: store.pool.configuration, channels: [store.notificationChannel], logger: logger) { _ in
                signal.bump()
            }
            started.start()
            listener = started
        }
        defer { pages?.leave(name) }
        do {
            try await cancelWhenGracefulShutdown { try await self.loop() }
        } catch is CancellationError {
        } catch let error as PostgresError where error.code == PostgresError.cancelled {
            // Cancellation or graceful shutdown stopped a statement or a wait for a connection:
            // the batch rolled back and comes again next time.
        } catch {
            await listener?.stop()
            throw error
        }
        await listener?.stop()
    }

    private func loop() async throws {
        var known = try await checkpoint()
        var idleDelay = Duration.milliseconds(5)
        var failures = 0
        while !Task.isCancelled {
            let generation = store.appended.generation
            var handled = 0
            var isEnd = true
            do {
                // Polling while idle: a checkpoint set back meanwhile (`restart`) is started from
                // at once, not when the next event comes.
                if idleDelay >= pollInterval { known = min(known, try await checkpoint()) }
                if try await hasEvents(after: known) {
                    (handled, known, isEnd) = try await handleBatch(after: known)
                }
                atEnd.store(isEnd, ordering: .relaxed)
                failures = 0
            } catch  where EventStore.isRetryable(error) && failures < Self.immediateRetries {
                // Refused by the order rule, a serialization failure or a deadlock: a new
                // transaction can succeed right away.
                failures += 1
                logger.debug("subscription batch runs again", metadata: ["waymark.subscription": "\(name)", "waymark.error": "\(error)"])
                continue
            } catch  where Self.isTransient(error) {
                failures += 1
                let delay = Duration.milliseconds(min(50 << min(failures, 7), 5_000))
                logger.warning(
                    "subscription batch failed, retrying",
                    metadata: ["waymark.subscription": "\(name)", "waymark.error": "\(error)", "waymark.retry_in": "\(delay)"])
                try await clock.sleep(for: delay)
                continue
            }
            if !isEnd { continue }
            if handled > 0 {
                idleDelay = .milliseconds(5)
                continue
            }
            // Nothing readable: wait for a wake-up; after one that yielded nothing (an older
            // transaction still holds the horizon back), look again soon, backing off to pollInterval.
            await store.appended.wait(after: generation, timeout: min(idleDelay, pollInterval), clock: clock)
            if store.appended.generation != generation {
                idleDelay = .milliseconds(5)
            } else {
                idleDelay = min(idleDelay * 2, pollInterval)
            }
        }
    }

    /// A batch above `pageSize` events is read page by page in its transaction and handed over whole.
    public static let maxBatchSize = 100_000
    static let pageSize = 10_000
    static let sharedPageReads = 10
    /// The longest a read waits for shared pages before it reads alone: the slowest build passes
    /// a page in a fraction of that, unless it stopped.
    static let pageWait = Duration.seconds(1)

    /// Retryable failures in a row that are retried at once; then with the backoff of other
    /// transient failures.
    static let immediateRetries = 10

    static func isTransient(_ error: any Error) -> Bool {
        if EventStore.isRetryable(error) { return true }
        guard let error = error as? PostgresError else { return false }
        return error.code == PostgresError.connectionFailure || error.isClass(SQLState.connectionExceptionClass)
            || error.isClass(SQLState.transactionRollbackClass)
            || error.isClass(SQLState.operatorInterventionClass) || error.code == SQLState.lockNotAvailable
    }

    /// A look outside any transaction, so an idle subscription takes no row lock per poll (with
    /// shared pages it may read a page for the others).
    private func hasEvents(after position: GlobalPosition) async throws -> Bool {
        try await store.pool.withConnection { connection in
            try await read(on: connection, after: position, limit: 1).nextPosition != position
        }
    }

    /// With `pages`, a read is served by a shared page when one holds `position`; else it reads a
    /// page of the pages' source for the others, waits for one, or reads only its own events (see
    /// `LogPageCache`).
    private func read(on connection: PostgresConnection, after position: GlobalPosition, limit: Int) async throws -> GlobalSlice {
        guard let pages, pages.serves(source, metadata) else { return try await read(source, on: connection, after: position, limit: limit) }
        pages.move(name, to: position)
        let clock = ContinuousClock()
        let deadline = clock.now + Self.pageWait
        while true {
            if let cached = pages.slice(of: source, after: position, limit: limit) { return cached }
            let paced = self.paced && !atEnd.load(ordering: .relaxed)
            switch pages.plan(name, for: source, at: position, paced: paced, mayWait: clock.now < deadline) {
            case .readPage:
                var page: LogPageCache.Page?
                defer { pages.insert(page, after: position) }
                page = LogPageCache.Page(
                    after: position, slice: try await read(pages.source, metadata: pages.metadata, on: connection, after: position, limit: Self.pageSize))
                return page!.serving(source, after: position, limit: limit)
            case .wait:
                try await Task.sleep(for: .milliseconds(2))
            case .readOwn:
                let own = try await read(source, on: connection, after: position, limit: limit)
                // A category read stops at the category's last event, short of the pages after it:
                // having read to its end, this subscription holds none of them back while it waits.
                if own.isEnd { pages.leave(name) }
                return own
            }
        }
    }

    private func read(
        _ source: SubscriptionSource, metadata: MetadataFields? = nil, on connection: PostgresConnection, after position: GlobalPosition, limit: Int
    ) async throws -> GlobalSlice {
        let metadata = metadata ?? self.metadata
        switch source {
        case .all: return try await store.readAll(on: connection, after: position, limit: limit, metadata: metadata)
        case .category(let category): return try await store.readCategory(on: connection, category, after: position, limit: limit, metadata: metadata)
        case .categories(let categories):
            return try await store.readCategories(on: connection, categories, after: position, limit: limit, metadata: metadata)
        }
    }

    /// The lock every batch of subscription `name` takes in its transaction; with
    /// `synchronousCommit` false, in the same statement, the transaction's `SET LOCAL
    /// synchronous_commit TO off`.
    static func batchLock(schema: String, name: String, synchronousCommit: Bool = true) -> PostgresQuery {
        let lock = "waymark-subscription:\(schema):\(name)"
        if synchronousCommit { return "SELECT pg_advisory_xact_lock(hashtextextended(\(lock), 0))" }
        return "SELECT pg_advisory_xact_lock(hashtextextended(\(lock), 0)), set_config('synchronous_commit', 'off', true)"
    }

    /// Makes subscription `name` start again from the log's start: in `transaction`, waits for its
    /// running batch (if any) and holds off the next until the transaction ends, then forgets its
    /// checkpoint. What the handler derived must be dropped in the same transaction. Running
    /// instances start again from the log's start at their next batch or their next idle poll.
    public static func restart(_ name: String, in transaction: Transaction) async throws {
        try await transaction.query(batchLock(schema: transaction.store.schema, name: name))
        try await transaction.execute("DELETE FROM subscription_checkpoints WHERE subscription_name = \(name)")
    }

    /// Handles one batch in one transaction; returns how many events it handled, the checkpoint,
    /// and whether the batch reached the readable end of the log.
    ///
    /// `known` is where this subscription last found itself: past a stored checkpoint when a
    /// category's batch held none of its events. Such a batch writes nothing (a category's
    /// checkpoint stops at its last event, as a category read does), so an idle subscription to
    /// one category takes no transaction id when shared pages show it other categories' events.
    private func handleBatch(after known: GlobalPosition) async throws -> (Int, GlobalPosition, Bool) {
        try await store.pool.withTransaction { connection in
            // The lock makes a second instance wait here until this batch ends. Unlike a lock on
            // the checkpoint row it takes no transaction id, so a long batch holds the log's
            // readers back (see `EventStore.horizon`) only from its first write, not while it reads.
            try await connection.query(Self.batchLock(schema: store.schema, name: name, synchronousCommit: synchronousCommit))
            // The row exists after the first batch; only the very first one creates it.
            let readCheckpoint: PostgresQuery = "SELECT tx_id, global_id FROM subscription_checkpoints WHERE subscription_name = \(name)"
            var rows = try await connection.query(readCheckpoint)
            if rows.isEmpty {
                try await connection.query(
                    "INSERT INTO subscription_checkpoints (subscription_name, tx_id, global_id) VALUES (\(name), '0', 0) ON CONFLICT (subscription_name) DO NOTHING"
                )
                rows = try await connection.query(readCheckpoint)
            }
            let stored = try GlobalPosition(rows[0])
            var checkpoint = stored
            // (checkpoint, known] held none of its events: the log below the horizon never changes.
            if case .category = source { checkpoint = max(checkpoint, known) }
            var slice = try await read(on: connection, after: checkpoint, limit: min(batchSize, Self.pageSize))
            // A page reads at most `pageSize` rows of the log; a batch may take several. A shared
            // page gives a source the events it wants of a page of the whole log, so more of them.
            let reads = (batchSize + Self.pageSize - 1) / Self.pageSize * (pages == nil ? 1 : Self.sharedPageReads)
            for _ in 1..<reads where !slice.isEnd && slice.events.count < batchSize {
                let next = try await read(on: connection, after: slice.nextPosition, limit: min(batchSize - slice.events.count, Self.pageSize))
                slice.events.append(contentsOf: next.events)
                (slice.nextPosition, slice.isEnd) = (next.nextPosition, next.isEnd)
            }
            // A page of other categories' events only moves the checkpoint past them.
            guard slice.nextPosition != checkpoint else { return (0, checkpoint, true) }
            // Past more than `idleCheckpointSpan` transactions of other categories the checkpoint is
            // written all the same: a start would otherwise read them all again.
            if slice.events.isEmpty, case .category = source,
                slice.nextPosition.transactionId < stored.transactionId + idleCheckpointSpan
            {
                return (0, slice.nextPosition, slice.isEnd)
            }
            if !slice.events.isEmpty { try await handler(slice.events, Transaction(store: store, connection: connection)) }
            if let newest = slice.events.last?.recordedAt {
                let metrics = self.metrics
                let count = slice.events.count
                connection.afterCommit {
                    metrics.handled.increment(by: count)
                    metrics.lag.record(Date().timeIntervalSince(newest))
                }
            }
            try await connection.query(
                "UPDATE subscription_checkpoints SET tx_id = \(slice.nextPosition.transactionId)::xid8, global_id = \(slice.nextPosition.sequence), updated_at = now() WHERE subscription_name = \(name)"
            )
            return (slice.events.count, slice.nextPosition, slice.isEnd)
        }
    }
}
