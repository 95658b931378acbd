import Foundation
import Logging
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Whether journeys keep their SLA goals and their handoffs their OLAs: a clock per journey and
/// goal (`analytics.sla`) and per handoff (`analytics.ola`), counted in business hours of the
/// goal's calendar, paused while waiting on the customer where the goal says so, and matched
/// again when the customer's tier changes. A merged customer's open journeys follow the
/// survivor from the merge on: they take its tier then, and its later tier changes.
///
/// The table stores each clock as of its journey's last event; elapsed, remaining, percent
/// elapsed, `breached-running` and thresholds passed since are computed by the views with
/// `now()` through two functions over the calendars' intervals (a table of this build), so no
/// figure is stale. Reads the journey and customer categories (tier changes, merges).
public struct SLAProjection: Projection {
    public let name = "sla"
    /// 2: customers' tiers kept (`customers`), so that a merge moves journeys to the survivor's tier.
    /// 3: folds kept as the rows' own columns (`StoredClocks`), not as JSON beside them.
    /// 4: one breach rule by instants (reaching the target is a breach; the department holding the
    /// journey at `breach_at`; a clock stopped while paused gets the deadline as if the pause ended
    /// at the stop), counts in whole microseconds, holidays as rules, wall-clock hours at DST changes.
    /// 5: `due_75_at`, the instant a running clock reaches 75 %, stored, so that readers find the
    /// clocks at risk (and the view its `reached_75_at`) without counting business time per clock.
    public let version = 5
    public let source = SubscriptionSource.categories([CustomerDecider.category, JourneyDecider.category])
    /// The files' definitions and every version recorded in the log: a journey's goals are those of
    /// the version it started under, also after its file changed.
    public let definitions: DefinitionLibrary
    let timelines: [String: BusinessTimeline]
    let horizon: CalendarHorizon
    /// How the log's events are read: where sealed personal fields are opened.
    public let codec: EventCodec

    public init(definitions: DefinitionLibrary, codec: EventCodec = .standard, logger: Logger = Logger(label: "waymark.projections.sla")) {
        self.definitions = definitions
        self.codec = codec
        timelines = definitions.catalog.calendars.mapValues { BusinessTimeline($0) }
        horizon = CalendarHorizon(timelines, logger: logger)
    }

    public init(catalog: JourneyCatalog, logger: Logger = Logger(label: "waymark.projections.sla")) {
        self.init(definitions: DefinitionLibrary(catalog), logger: logger)
    }

    public func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("journeys")) (
                journey_id text PRIMARY KEY,
                customer_id text NOT NULL,
                open boolean NOT NULL,
                journey_type text NOT NULL,
                definition_version text NOT NULL,
                tier text NOT NULL,
                department text NOT NULL,
                waiting boolean NOT NULL,
                handoff_count integer NOT NULL,
                pending_goals text[] NOT NULL
            )
            """)
        try await transaction.execute("CREATE INDEX ON \(tables.name("journeys")) (customer_id) WHERE open")
        try await transaction.execute("CREATE TABLE \(tables.name("customers")) (customer_id text PRIMARY KEY, tier text NOT NULL)")
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("clocks")) (
                journey_id text NOT NULL,
                clock text NOT NULL,
                kind text NOT NULL,
                journey_type text NOT NULL,
                definition_version text NOT NULL,
                customer_id text NOT NULL,
                tier text NOT NULL,
                department text NOT NULL,
                breach_department text,
                handoff_no integer,
                from_department text,
                to_department text,
                outcome text,
                calendar text,
                target_seconds bigint NOT NULL,
                pauses boolean NOT NULL,
                state text NOT NULL,
                started_at timestamptz NOT NULL,
                running_since timestamptz,
                paused_since timestamptz,
                stopped_at timestamptz,
                elapsed_before float8 NOT NULL,
                paused_before float8 NOT NULL,
                breach_at timestamptz,
                original_breach_at timestamptz,
                reached_50_at timestamptz,
                reached_75_at timestamptz,
                reached_100_at timestamptz,
                due_75_at timestamptz,
                ever_breached boolean NOT NULL,
                PRIMARY KEY (journey_id, clock)
            )
            """)
        try await CalendarIntervals(tables: tables).create(timelines.values.sorted { $0.calendar < $1.calendar }, in: transaction)
    }

    public func readerIndexes() -> [ReaderIndex] {
        [
            .init("clocks", "kind, state"), .init("clocks", "stopped_at, journey_type"),
            // A type's running SLA clocks by state and breach instant, with what tells a breach:
            // the board reads its type's breached journeys from this index alone.
            .init(
                "clocks", "journey_type, state, breach_at", include: ["journey_id", "elapsed_before", "target_seconds"],
                where: "stopped_at IS NULL AND kind = 'sla'", name: "open_sla"),
        ]
    }

    public func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        let functions = CalendarIntervals(tables: tables)
        let seconds = functions.secondsFunction
        let adding = functions.addingFunction
        // Per clock: business seconds elapsed and paused up to now.
        let now: PostgresQuery = """
            FROM \(tables.name("clocks")) c CROSS JOIN LATERAL (
                SELECT c.elapsed_before + CASE WHEN c.running_since IS NULL THEN 0
                        ELSE \(seconds)(c.calendar, c.running_since, greatest(now(), c.running_since)) END AS elapsed,
                    c.paused_before + CASE WHEN c.paused_since IS NULL THEN 0
                        ELSE \(seconds)(c.calendar, c.paused_since, greatest(now(), c.paused_since)) END AS paused
            ) n
            """
        // One breach rule by instants: a running clock is breached once now() has reached its
        // breach_at (the first instant its elapsed time reaches the target); a paused one when its
        // elapsed time had reached the target before the pause.
        let breachedNow: PostgresQuery = """
            (c.state = 'running' AND now() >= c.breach_at OR c.state = 'paused' AND c.elapsed_before >= c.target_seconds)
            """
        func reached(_ percent: Int) -> PostgresQuery {
            let share = PostgresQuery(sql: "\(Double(percent) / 100)")
            return """
                coalesce(c.reached_\(PostgresQuery(sql: String(percent)))_at, CASE WHEN c.running_since IS NOT NULL AND n.elapsed >= \(share) * c.target_seconds
                    THEN \(adding)(c.calendar, c.running_since, \(share) * c.target_seconds - c.elapsed_before) END)
                """
        }
        let clockColumns: PostgresQuery = """
            c.calendar,
            CASE WHEN \(breachedNow) THEN 'breached-running' ELSE c.state END AS state,
            c.started_at, c.paused_since, make_interval(secs => n.paused) AS paused_total, make_interval(secs => c.target_seconds) AS target,
            make_interval(secs => n.elapsed) AS elapsed, make_interval(secs => c.target_seconds - n.elapsed) AS remaining,
            round((100 * n.elapsed / c.target_seconds)::numeric, 1) AS percent_elapsed,
            CASE WHEN c.state = 'paused' AND c.elapsed_before < c.target_seconds
                THEN \(adding)(c.calendar, greatest(now(), c.paused_since), c.target_seconds - c.elapsed_before) ELSE c.breach_at END AS breach_at,
            c.original_breach_at, \(reached(50)) AS reached_50_at,
            coalesce(c.reached_75_at, CASE WHEN c.state = 'running' AND now() >= c.due_75_at THEN c.due_75_at END) AS reached_75_at,
            coalesce(c.reached_100_at, CASE WHEN c.state = 'running' AND now() >= c.breach_at THEN c.breach_at END) AS reached_100_at,
            c.ever_breached OR \(breachedNow) AS ever_breached,
            c.department, coalesce(c.breach_department, CASE WHEN \(breachedNow) THEN c.department END) AS breach_department,
            c.stopped_at
            """
        return [
            (
                "sla",
                """
                SELECT c.journey_id, c.clock AS goal, c.journey_type, c.definition_version, c.customer_id, c.tier, \(clockColumns)
                \(now) WHERE c.kind = 'sla'
                """
            ),
            (
                "ola",
                """
                SELECT c.journey_id, c.handoff_no, c.journey_type, c.tier, c.from_department, c.to_department, c.outcome, \(clockColumns)
                \(now) WHERE c.kind = 'ola'
                """
            ),
        ]
    }

    public func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        let batch = try DecodedBatch(events) { [codec] in try ClockInput.decode($0, codec: codec) }
        guard !batch.events.isEmpty else { return batch.ignored }
        let context = SLAClockFold.Context(
            catalog: try await definitions.catalog(
                knowing: batch.events.compactMap { recorded, _, input in
                    guard case .journey(let decoded) = input, case .started(let started) = decoded.event else { return nil }
                    return (recorded, started)
                }, in: transaction),
            timelines: timelines)
        // Each journey of the batch, and each open journey of a customer whose tier changes, gets a
        // slot.
        var journeys = StreamSlots()
        var eventSlots: [Int] = []
        eventSlots.reserveCapacity(batch.events.count)
        var customerIds: [String] = []
        var survivors: [String] = []
        for (recorded, id, input) in batch.events {
            switch input {
            case .journey:
                eventSlots.append(journeys.slot(id, of: recorded))
                continue
            case .tierChanged: customerIds.append(id)
            case .merged(let survivor):
                customerIds.append(id)
                survivors.append(survivor)
            case .registered, .noClockMoves: break
            }
            eventSlots.append(-1)
        }
        let stored = try await load(journeyIds: journeys.storedBefore, customerIds: customerIds, tables, transaction)
        for journeyId in stored.keys { _ = journeys.slot(journeyId) }
        let ids = journeys.ids
        var folds = ids.map { stored[$0] }
        var touched = Array(repeating: false, count: ids.count)
        // Customers' tiers: the survivors' as stored, then as the batch changes them.
        var tiers = try await loadTiers(of: survivors, tables, transaction)
        var registered: [String: String] = [:]
        var changedTiers: [String: String] = [:]
        // The journeys of each customer, by slot: made at the batch's first tier change or merge
        // (most batches have none), then kept up as journeys start and merges move them.
        var journeysOfCustomer: [String: [Int]]?
        for (index, (recorded, id, input)) in batch.events.enumerated() {
            let at = recorded.occurredAt
            switch input {
            case .journey(let decoded):
                let journey = eventSlots[index]
                // In place in the array: a fold copied out and back retained each of its strings.
                if folds[journey] != nil {
                    folds[journey]!.apply(decoded.event, at: at, context: context)
                } else if case .started(let started) = decoded.event {
                    folds[journey] = SLAClockFold(started, at: at, context: context)
                    journeysOfCustomer?[started.customerId, default: []].append(journey)
                } else {
                    throw ProjectionError(recorded, "journey \(id) has a \(recorded.type) before its JourneyStarted")
                }
                touched[journey] = true
            case .registered(let tier):
                tiers[id] = tier
                registered[id] = tier
            case .tierChanged(let changed):
                tiers[id] = changed.to
                if registered[id] != nil { registered[id] = changed.to } else { changedTiers[id] = changed.to }
                if journeysOfCustomer == nil { journeysOfCustomer = Self.journeysByCustomer(folds) }
                for journey in journeysOfCustomer![id] ?? [] where folds[journey]!.customerId == id && !folds[journey]!.ended {
                    folds[journey]!.changeTier(to: changed.to, at: at, context: context)
                    touched[journey] = true
                }
            case .noClockMoves:
                continue
            case .merged(let survivor):
                if journeysOfCustomer == nil { journeysOfCustomer = Self.journeysByCustomer(folds) }
                for journey in journeysOfCustomer![id] ?? [] where folds[journey]!.customerId == id && !folds[journey]!.ended {
                    folds[journey]!.customerId = survivor
                    if let tier = tiers[survivor] { folds[journey]!.changeTier(to: tier, at: at, context: context) }
                    touched[journey] = true
                    journeysOfCustomer![survivor, default: []].append(journey)
                }
            }
        }
        var foldRows = (new: CopyBinary(), changed: CopyBinary())
        var clockRows = (new: CopyBinary(), changed: CopyBinary())
        for journey in ids.indices where touched[journey] {
            guard let fold = folds[journey] else { continue }
            let before = stored[ids[journey]]
            if before == nil { StoredClocks.write(fold, into: &foldRows.new) } else { StoredClocks.write(fold, into: &foldRows.changed) }
            // A clock's row also carries the journey's customer and department; only rows that
            // differ from the stored ones are written, and those of clocks not stored yet are new.
            let sameJourneyColumns = before.map { $0.customerId == fold.customerId && $0.department == fold.department } ?? false
            for clock in fold.clocks {
                horizon.check(clock, journeyId: fold.journeyId)
                let timeline = clock.calendar.flatMap { timelines[$0] }
                guard let storedClock = before?.clocks.first(where: { $0.name == clock.name }) else {
                    ClockRow.write(clock, of: fold, timeline: timeline, into: &clockRows.new)
                    continue
                }
                if !sameJourneyColumns || storedClock != clock { ClockRow.write(clock, of: fold, timeline: timeline, into: &clockRows.changed) }
            }
        }
        try await StagedUpsert(tables: tables, table: "journeys", columns: StoredClocks.journeyColumns, key: ["journey_id"])
            .write(new: foldRows.new, changed: foldRows.changed, in: transaction)
        try await StagedUpsert(tables: tables, table: "clocks", columns: ClockRow.columns, key: ["journey_id", "clock"])
            .write(new: clockRows.new, changed: clockRows.changed, in: transaction)
        try await StagedUpsert(tables: tables, table: "customers", columns: ["customer_id", "tier"], key: ["customer_id"])
            .write(new: Self.tierRows(registered), changed: Self.tierRows(changedTiers), in: transaction)
        return batch.ignored
    }

    /// The slots of `folds` by customer.
    private static func journeysByCustomer(_ folds: [SLAClockFold?]) -> [String: [Int]] {
        var journeys: [String: [Int]] = [:]
        for (slot, fold) in folds.enumerated() {
            if let fold { journeys[fold.customerId, default: []].append(slot) }
        }
        return journeys
    }

    private static func tierRows(_ tiers: [String: String]) -> CopyBinary {
        var rows = CopyBinary()
        for (customer, tier) in tiers {
            rows.append(customer)
            rows.append(tier)
            rows.endRow()
        }
        return rows
    }

    /// The stored tiers of `customerIds`, by id.
    private func loadTiers(of customerIds: [String], _ tables: ProjectionTables, _ transaction: Transaction) async throws -> [String: String] {
        guard !customerIds.isEmpty else { return [:] }
        let rows = try await transaction.query(
            "SELECT customer_id, tier FROM \(tables.name("customers")) WHERE customer_id = ANY(\(PostgresArray(customerIds))::text[])")
        return Dictionary(try rows.map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) }) { first, _ in first }
    }

    /// The stored folds of the batch's journeys and of the open journeys of its customers.
    private func load(journeyIds: [String], customerIds: [String], _ tables: ProjectionTables, _ transaction: Transaction) async throws -> [String:
        SLAClockFold]
    {
        try await StoredClocks.load(
            tables,
            where: "journey_id = ANY(\(PostgresArray(journeyIds))::text[]) OR (open AND customer_id = ANY(\(PostgresArray(customerIds))::text[]))",
            in: transaction)
    }
}

/// The events the SLA projection reads: a journey's, and a customer's registration (its tier),
/// tier changes and merges.
enum ClockInput {
    case journey(DecodedJourneyEvent)
    case registered(tier: String)
    case tierChanged(CustomerEvent.TierChanged)
    case merged(survivor: String)
    /// A journey event that starts, stops or pauses no clock: its data is not decoded and its
    /// journey not rewritten.
    case noClockMoves

    static func movesNoClock(_ type: String) -> Bool {
        switch type {
        case "MilestoneReached", "CompensationRecorded", "FeedbackReceived", "OwnerReassigned": true
        default: false
        }
    }

    static func decode(_ recorded: RecordedEvent, codec: EventCodec) throws -> ClockInput? {
        if movesNoClock(recorded.type) { return .noClockMoves }
        if recorded.isIn(category: JourneyDecider.category) { return try DecodedJourneyEvent.of(recorded, codec: codec).map(ClockInput.journey) }
        switch try CustomerEvent.decode(type: recorded.type, data: recorded.data, codec: codec) {
        case .registered(let registered): return .registered(tier: registered.tier)
        case .tierChanged(let changed): return .tierChanged(changed)
        case .mergedInto(let merged): return .merged(survivor: merged.survivor)
        default: return nil
        }
    }
}

/// A clock as a row of the `clocks` table.
enum ClockRow {
    static let columns = [
        "journey_id", "clock", "kind", "journey_type", "definition_version", "customer_id", "tier", "department", "breach_department", "handoff_no",
        "from_department", "to_department", "outcome", "calendar", "target_seconds", "pauses", "state", "started_at", "running_since", "paused_since",
        "stopped_at", "elapsed_before", "paused_before", "breach_at", "original_breach_at", "reached_50_at", "reached_75_at", "reached_100_at",
        "due_75_at", "ever_breached",
    ]

    static func write(_ clock: SLAClock, of fold: SLAClockFold, timeline: BusinessTimeline?, into rows: inout CopyBinary) {
        for text in [
            fold.journeyId, clock.name, clock.kind.rawValue, fold.journeyType, fold.definitionVersion, fold.customerId, clock.tier, fold.department,
            clock.breachDepartment,
        ] {
            rows.append(text)
        }
        rows.append(integer: clock.handoffNumber)
        for text in [clock.fromDepartment, clock.toDepartment, clock.outcome, clock.calendar] { rows.append(text) }
        rows.append(bigint: clock.targetSeconds)
        rows.append(clock.pausesWhileWaiting)
        rows.append(clock.state.rawValue)
        for time in [clock.startedAt, clock.runningSince, clock.pausedSince, clock.stoppedAt] { rows.append(time) }
        // Seconds in the table, whole microseconds in the fold: the two convert back exactly.
        rows.append(float8: Double(clock.elapsedBefore) / 1_000_000)
        rows.append(float8: Double(clock.pausedBefore) / 1_000_000)
        for time in [clock.breachAt, clock.originalBreachAt, clock.reached[0], clock.reached[1], clock.reached[2]] { rows.append(time) }
        rows.append(clock.instant(ofThreshold: 1, timeline))
        rows.append(clock.everBreached)
        rows.endRow()
    }
}
