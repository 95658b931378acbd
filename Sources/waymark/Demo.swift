import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkRuntime
import WaymarkSimulation
import WaymarkWebhookReceiver

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run Waymark with the console on simulated traffic until Ctrl-C; with --script, play a journey across departments, simulate traffic, read it back and exit."
    )

    @OptionGroup var options: RuntimeOptions
    @OptionGroup var definitions: DefinitionOptions

    @Flag(help: "Play the scripted walk-through (one journey across departments, then a simulation, read back) and exit.")
    var script = false

    @Flag(help: "With --script: leave the private local server running afterwards.")
    var keepRunning = false

    @Option(name: .customLong("for"), help: "Stop after this long (90s, 10m, 2h); default: until Ctrl-C.")
    var duration: String?

    @Option(help: "Port of the API and the console (server.port; default 8080; 0 for any free one).")
    var port: String?

    @Option(help: "Journeys of history the simulator writes at the start.")
    var history = 300

    func validate() throws {
        if let duration { _ = try Self.duration(duration) }
        guard history >= 0 else { throw ValidationError("--history must be 0 or more, not \(history)") }
        try checkOptions(overrides)
    }

    var overrides: [ConfigurationOverride] {
        definitions.overrides + [port.map { ConfigurationOverride(key: "server.port", value: $0, option: "--port") }].compactMap { $0 }
    }

    /// `90s`, `10m`, `2h`.
    static func duration(_ text: String) throws -> Duration {
        if let unit = text.last, let count = Int(text.dropLast()), count > 0 {
            switch unit {
            case "s": return .seconds(count)
            case "m": return .seconds(count * 60)
            case "h": return .seconds(count * 3_600)
            default: break
            }
        }
        throw ValidationError("--for '\(text)' is no duration such as 90s, 10m or 2h")
    }

    func run() async throws {
        let runtime = try options.runtime(overrides)
        guard script else {
            try await LiveDemo(
                runtime: runtime, duration: try duration.map(Self.duration), history: history, journeysPerRound: 6, roundInterval: .seconds(5)
            ).run()
            return
        }
        try await runtime.withDatabase(keepLocalServer: keepRunning) { database in
            print("database: \(PostgresConnection.redactedURL(database.url)), schema \(runtime.configuration.database.schema)")
            // A webhook receiver of the demo's own, on loopback, checks every signature.
            let secret = WebhookSecret.random()
            try await LoopbackReceiver.run(secrets: [secret]) { receiver, url in
                let notifications = try demoNotificationSettings(runtime: runtime, receiver: url, secret: secret)
                try await database.withDemo(notifications: notifications) { services in
                    let applied = services.migrationsApplied
                    print("migrations applied now: \(applied.isEmpty ? "none (up to date)" : applied.map(\.fileName).joined(separator: ", "))")
                    try await runDemo(services, receiver: receiver, logger: runtime.logger)
                }
            }
        }
    }

    func runDemo(_ services: DemoServices, receiver: LoopbackReceiver, logger: Logger) async throws {
        let store = services.store
        let client = services.client
        let catalog = client.catalog
        let run = String(UUID().uuidString.prefix(6)).lowercased()
        let customers = CustomerDirectory(client: client, tiers: catalog.tiers)
        let consents = ConsentRegistry(client: client)
        let customerId = "acme-\(run)"
        let journeyId = "nb-\(run)"
        var clock = Date().addingTimeInterval(-21 * 86_400)
        /// Each step happens a little later in the journey's life, as the departments report it.
        func at(_ hours: Double, _ actor: String, _ system: String) -> CommandContext {
            clock = clock.addingTimeInterval(hours * 3_600)
            return CommandContext(by: Sender(actor: actor, sourceSystem: system), occurredAt: clock)
        }
        func say(_ text: String) { print("   \(text)") }
        func send(_ command: JourneyCommand, _ context: CommandContext) async throws {
            do {
                let result = try await client.send(command, to: journeyId, context: context)
                say(
                    "\(context.sender?.actor ?? "-") (\(context.sender?.sourceSystem ?? "-")): \(result.types.joined(separator: ", ")) -> v\(result.streamVersion)"
                )
            } catch let rejection as Rejection {
                say("\(context.sender?.actor ?? "-") (\(context.sender?.sourceSystem ?? "-")): refused, \(rejection)")
            }
        }

        print("\n1. A customer arrives from the CRM: registered, linked to its CRM account, consent recorded")
        try await customers.register(
            customerId: customerId, name: PersonalData("Acme GmbH"), email: PersonalData("buyer@acme.example"), tier: "enterprise",
            context: at(0, "crm-sync", "crm"))
        try await customers.link(ExternalID(system: "crm", id: "ACC-\(run)"), to: customerId, context: at(0.1, "crm-sync", "crm"))
        let notice = ConsentRecord(
            scope: ConsentScope(purpose: "service-updates", channel: "email"), legalBasis: .consent, noticeVersion: "privacy-2026.1",
            collectionPoint: "signup-form", proofReference: "form-\(run)")
        try await consents.record(.give(notice), subject: customerId, context: at(0.1, "web", "crm"))
        say(
            "customer \(customerId) (enterprise), CRM account ACC-\(run) resolves to \(try await customers.customer(holding: ExternalID(system: "crm", id: "ACC-\(run)")) ?? "nobody")"
        )
        try await customers.register(customerId: "globex-\(run)", name: PersonalData("Globex Ltd"), tier: "standard", context: at(0.1, "crm-sync", "crm"))
        do {
            try await customers.link(ExternalID(system: "crm", id: "ACC-\(run)"), to: "globex-\(run)")
        } catch let rejection as Rejection {
            say("linking the same CRM account to another customer: refused, \(rejection)")
        }

        print("\n2. A new-business journey across sales, onboarding and fulfilment")
        let definition = catalog.current("new-business")!
        say("definition new-business \(definition.version)")
        try await send(
            .start(
                .init(
                    journeyId: journeyId, customerId: customerId, journeyType: "new-business", tier: "enterprise", externalProcessId: "OPP-\(run)",
                    owner: "ana.silva")),
            at(1, "ana.silva", "crm"))
        for milestone in ["discovery-call-held", "budget-confirmed", "decision-maker-identified"] {
            try await send(.reachMilestone(milestone), at(20, "ana.silva", "crm"))
        }
        try await send(.moveToStage("proposal"), at(2, "ana.silva", "crm"))
        try await send(.reachMilestone("proposal-sent"), at(6, "ana.silva", "crm"))
        try await send(.waitOnCustomer(reason: "purchase order"), at(1, "ana.silva", "crm"))
        try await send(.moveToStage("contract"), at(1, "ana.silva", "crm"))
        try await send(.resume, at(48, "ana.silva", "crm"))
        try await send(.reachMilestone("proposal-accepted"), at(1, "ana.silva", "crm"))
        try await send(.moveToStage("contract"), at(2, "ana.silva", "crm"))
        try await send(.reachMilestone("contract-sent"), at(4, "ana.silva", "crm"))
        try await send(.reachMilestone("contract-signed"), at(30, "ana.silva", "crm"))
        let facts = ["signed-contract": "DOC-\(run)", "billing-contact": "ap@acme.example", "kickoff-date": "2026-12-01"]
        try await send(.requestHandoff(toStage: "kickoff", facts: facts), at(1, "ana.silva", "crm"))
        try await send(.acceptHandoff(by: "grace.kim"), at(3, "grace.kim", "onboarding-portal"))
        try await send(.rejectHandoff(by: "grace.kim", reason: "no success-plan owner named"), at(1, "grace.kim", "onboarding-portal"))
        try await send(
            .requestHandoff(toStage: "kickoff", facts: facts.merging(["success-plan-owner": "grace.kim"]) { $1 }), at(2, "ana.silva", "crm"))
        try await send(.acceptHandoff(by: "grace.kim"), at(5, "grace.kim", "onboarding-portal"))
        try await send(.reachMilestone("kickoff-held"), at(26, "grace.kim", "onboarding-portal"))
        try await send(.reassignOwner(to: "hugo.lefevre"), at(2, "grace.kim", "onboarding-portal"))

        print("\n3. A command sent twice (a lost reply, a restarted service) is answered from the log and writes nothing")
        let retried = CommandContext(
            id: UUID(), by: Sender(actor: "hugo.lefevre", sourceSystem: "onboarding-portal"), occurredAt: clock.addingTimeInterval(3_600))
        let first = try await client.send(.reachMilestone("success-plan-agreed"), to: journeyId, context: retried)
        let again = try await client.send(.reachMilestone("success-plan-agreed"), to: journeyId, context: retried)
        say("first: v\(first.streamVersion), replayed \(first.replayed); again: v\(again.streamVersion), replayed \(again.replayed)")
        clock = retried.occurredAt!

        print("\n4. Onboarding configures the accounts and hands over to fulfilment")
        try await send(.moveToStage("configuration"), at(4, "hugo.lefevre", "onboarding-portal"))
        for milestone in ["accounts-created", "data-imported", "integrations-connected"] {
            try await send(.reachMilestone(milestone), at(18, "hugo.lefevre", "onboarding-portal"))
        }
        try await send(
            .requestHandoff(toStage: "provisioning", facts: ["delivery-address": "Acme GmbH, Dock 4, Hamburg", "licence-count": "250"]),
            at(1, "hugo.lefevre", "onboarding-portal"))
        try await send(.acceptHandoff(by: "jonas.berg"), at(3, "jonas.berg", "erp"))
        try await send(.reachMilestone("licences-issued"), at(6, "jonas.berg", "erp"))

        print("\n5. The journey now, and its timeline")
        let state = try await client.state(journey: journeyId)
        say(
            "stage \(state.stage ?? "-") (\(state.department ?? "-")), owner \(state.owner ?? "-"), status \(state.status.rawValue), stages visited: \(state.stagesVisited.joined(separator: " -> "))"
        )
        let formatter = ISO8601DateFormatter()
        for event in try await client.timeline(journey: journeyId) {
            say(
                "v\(event.streamVersion) \(formatter.string(from: event.occurredAt))  \(event.type.padding(toLength: 18, withPad: " ", startingAt: 0)) by \(event.metadata.actor ?? "-") via \(event.metadata.sourceSystem ?? "-")"
            )
        }

        print("\n6. Bad input is refused and stores nothing")
        for (stream, events) in [
            ("journey with spaces", [EventData(type: "X", data: "{}")]), ("journey-\(journeyId)", [EventData(type: "Broken", data: "{not json")]),
        ] {
            do {
                try await store.append(to: stream, events: events)
            } catch let error as EventStoreError {
                say("\(error)")
            }
        }

        print("\n7. Traffic from many departments: the simulator plays 300 journeys")
        let simulator = Simulator(client: client, logger: logger)
        let counts = try await simulator.run(SimulationOptions(journeys: 300, seed: UInt64.random(in: 1...1_000_000), until: SimulationOptions.defaultUntil()))
        say(
            "\(counts.customers) customers, \(counts.journeysStarted) journeys (\(JourneyFate.allCases.map { "\(counts.fates[$0, default: 0]) \($0.rawValue)" }.joined(separator: ", "))), \(counts.commands) commands, \(counts.events) events"
        )
        say("from the systems around them: \(counts.integrationSummary)")

        print("\n8. The journey category and the global log, in commit order")
        var journeysInCategory = 0
        var position = GlobalPosition.start
        while true {
            let page = try await store.readCategory("journey", after: position, limit: 1_000)
            journeysInCategory += page.events.count
            position = page.nextPosition
            if page.isEnd { break }
        }
        say("category 'journey': \(journeysInCategory) events; log head: \(try await store.head().lastPosition.map { "\($0)" } ?? "empty")")

        print("\n9. A durable subscription catches up from its checkpoint")
        let counted = Counter()
        let subscription = try CatchUpSubscription(store: store, name: "demo-handoffs", source: .category("journey"), logger: logger) {
            events, transaction in
            let handoffs = events.filter { $0.type == "HandoffAccepted" }.count
            transaction.afterCommit { counted.add(handoffs) }
        }
        let before = try await subscription.checkpoint()
        // The store, the subscription and the projections run as services; graceful shutdown stops
        // them in reverse, the store last, which closes its pool.
        let projections = services.runner
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: store), .init(service: subscription), .init(service: projections), .init(service: services.processManager),
                    .init(service: services.reactions),
                ]
                    + (services.deliveryWorker.map { [.init(service: $0)] } ?? []),
                logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let caughtUp = try await subscription.waitUntilCaughtUp(timeout: .seconds(30))
            say("checkpoint \(before) -> \(try await subscription.checkpoint()); caught up: \(caughtUp); handoffs accepted seen in this run: \(counted.value)")

            print("\n10. The read models analysts query (schema \(projections.analyticsSchema), role waymark_analyst)")
            for projection in projections.projections {
                let projected = try await projections.waitUntilCaughtUp(projection.name, timeout: .seconds(120))
                say("\(projection.name) projection caught up: \(projected)")
            }
            try await printAnalytics(store, analytics: projections.analyticsSchema, journeyId: journeyId, say)

            print("\n11. The process manager: deadlines from the log, fired once (the simulated journeys lie in the past, so most fire late)")
            try await printProcessManager(services.processManager, client: client, logger: logger, say)

            print("\n11b. Rules (config/rules.yaml) on the ERP's, the support desk's and the survey tool's events")
            try await printRules(services.reactions, say)

            if let worker = services.deliveryWorker {
                print("\n12. Notifications: escalations and rules tell people, signed, once per decision, only where consent allows")
                try await printNotifications(worker, receiver: receiver, logger: logger, say)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        print("\ndone.")
    }
}

/// A few of the README's analyst queries, run on the demo's data.
func printAnalytics(_ store: EventStore, analytics: String, journeyId: String, _ say: (String) -> Void) async throws {
    let journey = try await store.query(
        "SELECT stage, department, status, handoffs, handoffs_rejected, rework_loops, reassignments FROM \(identifier: analytics).journeys WHERE journey_id = \(journeyId)"
    )
    if let row = journey.first {
        let (stage, department, status, handoffs, rejected, rework, reassigned) = try row.decode(
            String.self, String.self, String.self, Int.self, Int.self, Int.self, Int.self)
        say(
            "\(journeyId): \(status) in \(stage) (\(department)); \(handoffs) handoffs, \(rejected) rejected, \(rework) rework loops, \(reassigned) reassignment(s)"
        )
    }
    say("journeys by status:")
    for row in try await store.query("SELECT status, count(*) FROM \(identifier: analytics).journeys GROUP BY status ORDER BY count(*) DESC") {
        let (status, count) = try row.decode(String.self, Int.self)
        say("  \(status.padding(toLength: 20, withPad: " ", startingAt: 0)) \(count)")
    }
    say("median and p90 handoff wait per department pair (hours):")
    let waits = try await store.query(
        """
        SELECT from_department || ' -> ' || to_department,
               round((extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY wait)) / 3600)::numeric, 1)::text,
               round((extract(epoch FROM percentile_cont(0.9) WITHIN GROUP (ORDER BY wait)) / 3600)::numeric, 1)::text,
               count(*)
        FROM \(identifier: analytics).handoffs WHERE outcome <> 'pending' GROUP BY 1 ORDER BY 1
        """)
    for row in waits {
        let (pair, median, p90, count) = try row.decode(String.self, String.self, String.self, Int.self)
        say("  \(pair.padding(toLength: 28, withPad: " ", startingAt: 0)) median \(median), p90 \(p90) (\(count) handoffs)")
    }
    say("where journeys wait: mean days per stage visit, top 5:")
    let stages = try await store.query(
        """
        SELECT journey_type || '/' || stage, round((extract(epoch FROM avg(duration)) / 86400)::numeric, 1)::text, count(*)
        FROM \(identifier: analytics).time_in_status GROUP BY 1 ORDER BY avg(duration) DESC LIMIT 5
        """)
    for row in stages {
        let (stage, days, visits) = try row.decode(String.self, String.self, Int.self)
        say("  \(stage.padding(toLength: 36, withPad: " ", startingAt: 0)) \(days) days (\(visits) visits)")
    }
    say("SLA clocks by goal and state (business hours of each goal's calendar):")
    for row in try await store.query(
        "SELECT goal || ' ' || state, count(*), round(avg(percent_elapsed), 0)::text FROM \(identifier: analytics).sla GROUP BY goal, state ORDER BY goal, state"
    ) {
        let (goal, count, percent) = try row.decode(String.self, Int.self, String.self)
        say("  \(goal.padding(toLength: 40, withPad: " ", startingAt: 0)) \(count) (mean \(percent) % of target)")
    }
    say("breached SLAs by tier and the department holding the journey when it breached:")
    for row in try await store.query(
        """
        SELECT tier || ' / ' || breach_department, count(*) FROM \(identifier: analytics).sla
        WHERE state IN ('breached-running', 'breached-closed') GROUP BY 1 ORDER BY count(*) DESC LIMIT 6
        """)
    {
        let (group, count) = try row.decode(String.self, Int.self)
        say("  \(group.padding(toLength: 40, withPad: " ", startingAt: 0)) \(count)")
    }
    say("consent coverage per purpose (share of subjects who granted it on some channel):")
    for row in try await store.query(
        """
        SELECT purpose, round(count(DISTINCT subject_id) FILTER (WHERE status = 'granted') * 100.0 / count(DISTINCT subject_id), 1)::text,
               count(*) FILTER (WHERE status = 'withdrawn')
        FROM \(identifier: analytics).consents GROUP BY 1 ORDER BY 1
        """)
    {
        let (purpose, share, withdrawn) = try row.decode(String.self, String.self, Int.self)
        say("  \(purpose.padding(toLength: 20, withPad: " ", startingAt: 0)) \(share) % granted, \(withdrawn) withdrawn")
    }
}

/// A counter shared with a subscription handler.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add(_ value: Int) { count.withLock { $0 += value } }
    var value: Int { count.withLock { $0 } }
}
