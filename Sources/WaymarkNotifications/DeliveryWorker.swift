import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Delivers the notifications the log requests: derives the outbox table from the log (the
/// subscription `notifications:outbox`), claims due notifications with `FOR UPDATE SKIP LOCKED`
/// under a lease, and sends them with retries, a per-endpoint limit and circuit.
///
/// Several workers may run, in one process or many: each claims different notifications. Delivery
/// is at least once (a worker that dies after sending and before recording leaves its claim to run
/// out, and another sends again with the same `webhook-id`); the outcome is recorded once.
///
/// Two loops: one claims into a local queue, one starts deliveries from it. The claim loop wakes
/// on the feed's commits (in this process at once, from others by NOTIFY), the queue running low,
/// the next due time, and at least every `maxIdle`; the delivery loop on a place freed, claims
/// queued and outcomes written, and nothing else, so it waits without a timer. Due times and
/// backoff are in `time` (a test clock in tests).
public final class DeliveryWorker: Service, Sendable {
    public static let subscriptionName = "notifications:outbox"

    public let store: EventStore
    public let worker: String
    let subscription: CatchUpSubscription
    let table: DeliveryTable
    let delivery: Delivery
    let options: DeliveryOptions
    let time: WallTime
    /// Wakes the delivery loop: a place freed, claims queued, outcomes written.
    let wake = ChangeSignal()
    /// Wakes the claim loop: requests fed (here or, by NOTIFY, elsewhere), the local queue below
    /// half, a delivery ended while it is (a put-off moves the next due time).
    let claimable = ChangeSignal()
    let memory: WorkerMemory
    /// Deliveries this worker has started and not yet handed to the recorder.
    let inFlight = Atomic(0)
    /// Claimed notifications not yet started.
    let local = Mutex<[ClaimedDelivery]>([])
    let logger: Logger

    /// - Parameters:
    ///   - httpClient: Sends the webhooks; the caller shuts it down (`WebhookSender.clientConfiguration()` suits it).
    ///   - worker: Names this worker in status and in the escalations it raises.
    public init(
        store: EventStore, settings: NotificationSettings, templates: NotificationTemplates, httpClient: HTTPClient,
        options: DeliveryOptions = DeliveryOptions(),
        codec: EventCodec = .standard, time: WallTime = .system, worker: String? = nil, logger: Logger
    ) throws {
        self.store = store
        let worker = worker ?? "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
        self.worker = worker
        self.options = options
        self.time = time
        self.logger = logger
        table = DeliveryTable(store: store, codec: codec, worker: worker)
        let memory = WorkerMemory()
        self.memory = memory
        let circuit = EndpointGate.Circuit(failuresToOpen: options.circuitFailures, openFor: options.circuitOpenFor)
        delivery = Delivery(
            table: table, recorder: OutcomeRecorder(table: table, memory: memory, written: wake), settings: settings, templates: templates,
            sender: WebhookSender(client: httpClient, logger: logger),
            gates: settings.endpoints.mapValues { EndpointGate(limit: $0.concurrency, circuit: circuit) }, options: options, time: time, worker: worker,
            logger: logger)
        let feed = OutboxFeed(codec: codec, memory: memory, channel: Self.channel(store), fed: claimable)
        subscription = try CatchUpSubscription(
            store: store, name: Self.subscriptionName, source: .category(JourneyDecider.category), logger: logger,
            handler: { events, transaction in try await feed.handle(events, in: transaction) })
    }

    /// The NOTIFY channel the feed announces new requests on.
    public static func channel(_ store: EventStore) -> String { String("waymark_nt_\(store.schema)".prefix(63)) }

    public func run() async throws {
        try await NotificationSchema.requireMigrated(store, logger: logger)
        let now = time.now()
        try await store.pool.query(
            """
            INSERT INTO nt_workers (worker, started_at, seen_at) VALUES (\(worker), \(now), \(now))
            ON CONFLICT (worker) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at
            """)
        let claimable = self.claimable
        let listener = PostgresListener(configuration: store.pool.configuration, channels: [Self.channel(store)], logger: logger) { _ in
            claimable.bump()
        }
        listener.start()
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.subscription.run() }
                group.addTask { try await cancelWhenGracefulShutdown { try await self.deliveryLoop() } }
            }
        } catch is CancellationError {
        } catch let error as PostgresError where error.code == PostgresError.cancelled {
        } catch {
            await listener.stop()
            throw error
        }
        await listener.stop()
    }

    /// Waits until the feed has read every journey event up to the log's head now; false after `timeout`.
    public func waitUntilFed(timeout: Duration = .seconds(30)) async throws -> Bool {
        try await subscription.waitUntilCaughtUp(timeout: timeout)
    }

    /// Starts deliveries from the local queue while fewer than `concurrency` are in flight; a task
    /// of its own (`claimLoop`) keeps the queue filled, so that a claim's commit never holds up
    /// a start.
    private func deliveryLoop() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.claimLoop() }
            while !Task.isCancelled {
                let generation = wake.generation
                // Outcomes are recorded behind the sends; past a bound this waits for the recorder
                // rather than queue without end.
                while inFlight.load(ordering: .acquiring) < options.concurrency && delivery.recorder.queued < claimAhead * 4,
                    let (item, low) = local.withLock({ $0.isEmpty ? nil : ($0.removeFirst(), $0.count < claimAhead / 2) })
                {
                    if low { claimable.bump() }
                    inFlight.add(1, ordering: .acquiringAndReleasing)
                    let done = Once {
                        self.inFlight.subtract(1, ordering: .acquiringAndReleasing)
                        self.wake.bump()
                        if self.local.withLock({ $0.count < self.claimAhead / 2 }) { self.claimable.bump() }
                    }
                    group.addTask { await self.delivery.deliver(item, done: done) }
                }
                // Every change this waits for bumps `wake`: no timer needed (one per delivery cost CPU).
                await wake.wait(after: generation)
            }
        }
    }

    /// How many claimed notifications the local queue holds at most.
    var claimAhead: Int { options.concurrency * 4 }

    /// Claims due notifications in batches (one commit for many) whenever the local queue runs
    /// below half of `claimAhead`.
    private func claimLoop() async throws {
        var failures = 0
        while !Task.isCancelled {
            let generation = claimable.generation
            let queued = local.withLock { $0.count }
            guard queued < claimAhead / 2 else {
                await claimable.wait(after: generation, timeout: options.maxIdle)
                continue
            }
            let limit = claimAhead - queued
            let claimed: [ClaimedDelivery]
            do {
                claimed = try await table.claim(limit: limit, now: time.now(), lease: options.lease, memory: memory)
                failures = 0
            } catch let error where !(error is CancellationError) {
                if Task.isCancelled { return }
                failures += 1
                let delay = Duration.milliseconds(min(20 << min(failures, 8), 5_000))
                logger.warning("claiming notifications failed, trying again", metadata: ["waymark.error": "\(error)", "waymark.retry_in": "\(delay)"])
                try await ContinuousClock().sleep(for: delay)
                continue
            }
            if !claimed.isEmpty {
                local.withLock { $0 += claimed }
                wake.bump()
            }
            if claimed.count < limit { try await idle(after: generation) }
        }
    }

    /// Nothing more to claim now: sleeps until the next due time, a wake-up or `maxIdle`.
    private func idle(after generation: UInt64) async throws {
        var wait = options.maxIdle
        if let next = try? await table.nextDue() {
            wait = min(wait, WallTime.duration(next.timeIntervalSince(time.now())))
        }
        if wait > .zero {
            await claimable.wait(after: generation, timeout: wait, clock: time.clock)
        } else {
            // Due, yet none could be claimed: another worker holds them. Look again shortly.
            await claimable.wait(after: generation, timeout: .milliseconds(50))
        }
    }
}
