import Foundation
import Logging
import Synchronization
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore

/// What to simulate.
public struct SimulationOptions: Sendable {
    /// How many journeys to run; customers are a third as many (each has several journeys).
    public var journeys: Int
    /// Everything the simulation does follows from the seed and `until`: the same pair produces
    /// the same customers, journeys, commands, command ids and times, so running it again writes
    /// nothing new.
    public var seed: UInt64
    /// Commands per second over all senders; nil sends as fast as the store takes them.
    public var commandsPerSecond: Double?
    /// The end of the simulated period: journeys start during the `days` before it, and what would
    /// happen after it has not happened yet (those journeys are still running).
    public var until: Date
    public var days: Int
    /// Concurrent senders (connections), and how many journeys each keeps going at once; each of
    /// its batches holds the next command of each of those journeys.
    public var senders: Int
    public var journeysInFlight: Int
    /// The journey types to simulate; nil: every loaded type.
    public var journeyTypes: [String]?
    /// When the journeys start; nil: spread over the `days` before `until`.
    public var starts: DateInterval?

    public init(
        journeys: Int, seed: UInt64 = 1, commandsPerSecond: Double? = nil, until: Date, days: Int = 60, senders: Int = 4,
        journeysInFlight: Int = 200, journeyTypes: [String]? = nil, starts: DateInterval? = nil
    ) {
        self.journeys = journeys
        self.seed = seed
        self.commandsPerSecond = commandsPerSecond
        self.until = until
        self.days = days
        self.senders = senders
        self.journeysInFlight = journeysInFlight
        self.journeyTypes = journeyTypes
        self.starts = starts
    }

    /// `until` for a run that did not name one: the start of the current hour, so that runs with
    /// one seed within the hour agree.
    public static func defaultUntil(now: Date = Date()) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 3_600).rounded(.down) * 3_600)
    }
}

/// Counts of a simulation, live while it runs.
public struct SimulationCounts: Sendable, Equatable {
    public var customers = 0
    public var journeysStarted = 0
    public var commands = 0
    public var events = 0
    /// Commands the domain refused. A script only holds commands the domain accepts, so this stays
    /// 0 unless the store holds other journeys under the simulation's ids.
    public var rejected = 0
    public var fates: [JourneyFate: Int] = [:]
    /// Events of the systems around the journeys, by type (`ShipmentDelayed`, `SupportCaseClosed`,
    /// `SurveyAnswered`, `CRMNoteSynced`); counted in `events` too.
    public var integrationEvents: [String: Int] = [:]
}

/// Drives realistic traffic through a `WaymarkClient`: customers registered and linked to their
/// CRM record with consent answers (some later withdrawn, some expiring) that the downstream
/// systems report applied or failed, now and then a tier change or a duplicate record merged into
/// the customer, then journeys across the loaded
/// definitions and tiers (see `JourneyScripter`), interleaved the way many departments work at
/// once, each command carrying the simulated time it happened (`CommandContext.occurredAt`), with
/// integration events of the systems around them (shipments delayed, support cases closed, survey
/// answers, CRM notes) on their streams.
public final class Simulator: Sendable {
    public let client: WaymarkClient
    let logger: Logger
    let counts = Mutex(SimulationCounts())

    public init(client: WaymarkClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The counts so far.
    public var progress: SimulationCounts { counts.withLock { $0 } }

    /// Runs the simulation to its end and returns its counts.
    @discardableResult
    public func run(_ options: SimulationOptions) async throws -> SimulationCounts {
        guard options.journeys > 0 else { throw ClientError(code: .invalidInput, message: "a simulation needs at least one journey") }
        let types = Self.journeyTypes(options, client.catalog)
        for type in types where client.catalog.current(type) == nil {
            throw ClientError(code: .unknownJourneyType, message: "no definition of journey type '\(type)' is loaded")
        }
        guard !types.isEmpty else { throw ClientError(code: .unknownJourneyType, message: "no journey definitions are loaded") }
        let customerCount = max(1, options.journeys / 3)
        let senders = max(1, options.senders)
        let pace = options.commandsPerSecond.map { $0 / Double(senders) }
        let started = ContinuousClock.now
        let scripter = JourneyScripter(catalog: client.catalog, journeyTypes: types, until: options.until)
        // Customers are set up beside the journeys, on connections of their own: their commands
        // read several streams in a transaction each, so they wait on round trips more than on
        // the processor. Three times as many senders, at a share of the pace as large as their share of
        // the commands (about one in six, with the downstream systems' propagation reports).
        let customerSenders = senders * 3
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<customerSenders {
                group.addTask {
                    try await self.registerCustomers(
                        Array(stride(from: sender, to: customerCount, by: customerSenders)), options,
                        pace: pace.map { $0 * Double(senders) / 6 / Double(customerSenders) },
                        since: started)
                }
            }
            for sender in 0..<senders {
                group.addTask {
                    try await self.runJourneys(
                        Array(stride(from: sender, to: options.journeys, by: senders)), options, customers: customerCount, scripter: scripter,
                        pace: pace.map { $0 * 5 / 6 }, since: started)
                }
            }
            try await group.waitForAll()
        }
        return progress
    }

    /// The script of journey `index` of a simulation.
    static func script(_ index: Int, _ options: SimulationOptions, customers: Int, scripter: JourneyScripter) -> JourneyScript {
        let period = Double(options.days) * 86_400
        let starts = options.starts ?? DateInterval(start: options.until.addingTimeInterval(-period), duration: period)
        var random = SeededGenerator(seed: options.seed, salt: 1, index: index)
        let customerIndex = Int(random.next() % UInt64(customers))
        let customer = Self.journeyCustomer(Self.customer(customerIndex, seed: options.seed), customerIndex, journey: index, options)
        let start = starts.start.addingTimeInterval(
            ((Double(index) + Double.random(in: 0..<1, using: &random)) / Double(options.journeys) * starts.duration).rounded())
        var script = scripter.script(journeyId: "\(Self.tag(options.seed))-\(index)", customer: customer, start: start, random: &random)
        Self.addIntegrationEvents(to: &script, journey: index, options)
        Self.addRuleTriggers(to: &script, journey: index, options, definition: scripter.definitions.first { $0.journeyType == script.journeyType })
        return script
    }

    /// The journeys a simulation with `options` runs, without running them (for benchmarks that
    /// replay the same commands in other ways). Their customers are not set up.
    public static func journeyScripts(_ options: SimulationOptions, catalog: JourneyCatalog) -> [JourneyScript] {
        let types = journeyTypes(options, catalog)
        let scripter = JourneyScripter(catalog: catalog, journeyTypes: types, until: options.until)
        return (0..<options.journeys).map { script($0, options, customers: max(1, options.journeys / 3), scripter: scripter) }
    }

    /// The journey types to simulate: those named, else every shipped type the catalog holds.
    static func journeyTypes(_ options: SimulationOptions, _ catalog: JourneyCatalog) -> [String] {
        options.journeyTypes ?? ["new-business", "order-to-cash", "support-case", "renewal"].filter { catalog.current($0) != nil }
    }

    /// Simulation ids carry the seed, so runs with different seeds never touch each other's streams.
    static func tag(_ seed: UInt64) -> String { "s" + String(seed, radix: 36) }

    static func customer(_ index: Int, seed: UInt64) -> SimulatedCustomer {
        var random = SeededGenerator(seed: seed, salt: 2, index: index)
        return SimulatedCustomer(id: "cust-\(tag(seed))-\(index)", random: &random)
    }

    func registerCustomers(_ indexes: [Int], _ options: SimulationOptions, pace: Double?, since started: ContinuousClock.Instant) async throws {
        let directory = CustomerDirectory(client: client, tiers: client.catalog.tiers)
        let consents = ConsentRegistry(client: client)
        let periodStart = options.until.addingTimeInterval(-Double(options.days) * 86_400)
        var sent = 0
        for index in indexes {
            let customer = Self.customer(index, seed: options.seed)
            var random = SeededGenerator(seed: options.seed, salt: 3, index: index)
            let registeredAt = periodStart.addingTimeInterval(-Double.random(in: 86_400...(365 * 86_400), using: &random).rounded())
            func context(_ offset: Double, _ system: String) -> CommandContext {
                CommandContext(commandId: random.uuid(), actor: "crm-sync", sourceSystem: system, occurredAt: registeredAt.addingTimeInterval(offset))
            }
            var events = 0
            var commands = 0
            func count(_ result: CommandResult) {
                events += result.events.count
                commands += 1
            }
            try await outcome(
                {
                    try await directory.register(
                        customerId: customer.id, name: PersonalData(customer.name), email: PersonalData(customer.email), tier: customer.tier,
                        context: context(0, "crm"))
                }, count)
            try await outcome({ try await directory.link(ExternalID(system: "crm", id: customer.crmId), to: customer.id, context: context(60, "crm")) }, count)
            let proof = "web-form-\(random.next() % 1_000_000)"
            func record(_ purpose: String, _ channel: String) -> ConsentRecord {
                ConsentRecord(
                    scope: ConsentScope(purpose: purpose, channel: channel), legalBasis: .consent, noticeVersion: "privacy-2026.1",
                    collectionPoint: "signup-form", proofReference: proof)
            }
            // Each decision is reported on by the purpose's downstream systems (`propagate`).
            var reports = PropagationReports(customer: index, options)
            func decide(_ command: ConsentCommand, _ offset: Double, _ system: String) async throws {
                let decided = context(offset, system)
                try await outcome({ try await consents.record(command, subject: customer.id, context: decided) }) { result in
                    count(result.command)
                    reports.note(result, command, at: decided.occurredAt!)
                }
            }
            try await decide(.give(record("service-updates", "email")), 120, "crm")
            if random.chance(0.6) {
                try await decide(.give(record("marketing", "email")), 130, "crm")
                if random.chance(0.15) {
                    let later = Double.random(in: 86_400...(Double(options.days) * 86_400), using: &random)
                    try await decide(.withdraw(ConsentScope(purpose: "marketing", channel: "email"), proofReference: "unsubscribe-link"), later, "marketing")
                }
            } else {
                try await decide(.refuse(record("marketing", "email")), 130, "crm")
            }
            if random.chance(0.3) {
                try await decide(.give(record("service-updates", "sms")), 140, "support")
            }
            if let expiring = reports.expiringConsent(proof: proof, registeredAt: registeredAt, until: options.until) {
                try await decide(.give(expiring.record), expiring.offset, "crm")
            }
            try await propagate(reports, subject: customer.id, count)
            try await changeCustomer(customer, index, options, registeredAt: registeredAt, directory: directory, count)
            let (doneEvents, doneCommands) = (events, commands)
            counts.withLock {
                $0.customers += 1
                $0.commands += doneCommands
                $0.events += doneEvents
            }
            sent += doneCommands
            try await pause(pace, commands: sent, since: started)
        }
    }

    /// Runs a customer command, counting a refusal (the customer was set up by an earlier run
    /// differently) instead of failing the simulation.
    func outcome<Result>(_ send: () async throws -> Result, _ count: (Result) -> Void) async throws {
        do {
            count(try await send())
        } catch let error where error is Rejection || error is CommandConflictError {
            counts.withLock { $0.rejected += 1 }
            logger.notice("simulated customer command refused", metadata: ["waymark.error": "\(error)"])
        }
    }

    private func runJourneys(
        _ indexes: [Int], _ options: SimulationOptions, customers: Int, scripter: JourneyScripter, pace: Double?, since started: ContinuousClock.Instant
    ) async throws {
        var pending = indexes[...]
        var inFlight: [(script: JourneyScript, next: Int)] = []
        var sent = 0
        while true {
            while inFlight.count < max(1, options.journeysInFlight), let index = pending.popFirst() {
                let script = Self.script(index, options, customers: customers, scripter: scripter)
                counts.withLock {
                    $0.journeysStarted += 1
                    $0.fates[script.fate, default: 0] += 1
                }
                if !script.commands.isEmpty { inFlight.append((script, 0)) }
            }
            if inFlight.isEmpty { return }
            let batch = inFlight.map { journey in
                let step = journey.script.commands[journey.next]
                return JourneyCommandRequest(
                    step.command, to: journey.script.journeyId,
                    context: CommandContext(commandId: step.commandId, actor: step.actor, sourceSystem: step.sourceSystem, occurredAt: step.occurredAt))
            }
            let outcomes = try await client.send(batch)
            var events = 0
            var rejected = 0
            for outcome in outcomes {
                switch outcome {
                case .success(let result): events += result.events.count
                case .failure(let error):
                    rejected += 1
                    logger.notice("simulated journey command refused", metadata: ["waymark.error": "\(error)"])
                }
            }
            var integration: [String: Int] = [:]
            for journey in inFlight {
                for event in journey.script.integrationEvents where event.afterCommand == journey.next {
                    try await appendIntegrationEvent(event, to: journey.script.journeyId)
                    integration[event.type, default: 0] += 1
                }
            }
            counts.withLock {
                $0.commands += batch.count
                $0.events += events + integration.values.reduce(0, +)
                $0.rejected += rejected
                $0.integrationEvents.merge(integration, uniquingKeysWith: +)
            }
            sent += batch.count
            inFlight = inFlight.compactMap { journey in
                journey.next + 1 < journey.script.commands.count ? (journey.script, journey.next + 1) : nil
            }
            try await pause(pace, commands: sent, since: started)
        }
    }

    /// Sleeps until `commands` commands are due at `pace` per second since `started`.
    func pause(_ pace: Double?, commands: Int, since started: ContinuousClock.Instant) async throws {
        guard let pace, pace > 0 else { return }
        let due = started + .seconds(Double(commands) / pace)
        if due > ContinuousClock.now { try await Task.sleep(until: due) }
    }
}
