import Foundation
import PropertyBased
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkSimulation
import WaymarkTesting

/// Random calendars (a zone west and one east of UTC, split days, holidays as rules) and random
/// journeys (pauses, handoffs that move the journey between departments, stops and cancels, often
/// exactly at a deadline or in the closed hours after it). The expected clocks are worked out in
/// this file from the SQL functions the views call (`business_seconds`, `business_add`) and the
/// rule by instants; the SLA projection counts them in Swift. Both must agree on `breach_at`,
/// `state` and the breach department of every SLA and OLA clock.
@Suite("SLA breach rule: Swift and SQL agree")
struct SLABreachPropertyTests {
    static let westZones = ["America/New_York", "America/Los_Angeles", "America/Santiago"]
    static let eastZones = ["Europe/Berlin", "Australia/Sydney", "Europe/Dublin"]
    static let rules = [
        "\"12-25\"", "easter-2", "easter+1", "4th thursday of november", "last sunday of march", "last monday of march", "1st sunday of november",
        "last friday of october", "{date: \"03-08\", observed: nearest-weekday}", "\"2026-03-30\"",
    ]
    static let departments = ["intake": "sales", "review": "legal", "done": "ops"]

    @Test("property: breach_at, state and breach department of SLA and OLA clocks, Swift projection against the SQL functions")
    func swiftAgreesWithSQL() async {
        var compared = 0
        await propertyCheck(count: 8, input: Gen.int(in: 0...Int(Int32.max))) { seed in
            do {
                compared += try await Self.check(seed: UInt64(seed))
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
        // At least each journey's SLA clock, in every case.
        #expect(compared >= 8 * 12, "clocks compared: \(compared)")
    }

    /// Opening hours on a half-hour grid: most days one or two ranges, some closed, some reaching midnight.
    static func hours(_ random: inout SeededGenerator) -> String {
        var lines: [String] = []
        for day in BusinessCalendar.weekdays where !random.chance(0.25) {
            var cuts = Set<Int>()
            let ranges = random.chance(0.5) ? 1 : 2
            while cuts.count < 2 * ranges { cuts.insert(Int.random(in: 0...48, using: &random)) }
            let sorted = cuts.sorted()
            let text = stride(from: 0, to: sorted.count, by: 2).map {
                String(format: "\"%02d:%02d-%02d:%02d\"", sorted[$0] / 2, sorted[$0] % 2 * 30, sorted[$0 + 1] / 2, sorted[$0 + 1] % 2 * 30)
            }
            lines.append("      \(day): [\(text.joined(separator: ", "))]")
        }
        return lines.isEmpty ? "      monday: [\"09:00-17:00\"]" : lines.joined(separator: "\n")
    }

    /// One property case: a fresh store, the calendars and definition of `seed`, twelve journeys.
    /// Returns the number of clocks compared.
    static func check(seed: UInt64) async throws -> Int {
        var random = SeededGenerator(seed: seed)
        let west = westZones.randomElement(using: &random)!
        let east = eastZones.randomElement(using: &random)!
        var calendarsYAML = "calendars:\n"
        for (name, zone) in [("west", west), ("east", east)] {
            let holidays = rules.filter { _ in random.chance(0.35) }
            calendarsYAML += "  \(name):\n    time_zone: \(zone)\n    hours:\n\(hours(&random))\n"
            if !holidays.isEmpty { calendarsYAML += "    holidays: [\(holidays.joined(separator: ", "))]\n" }
        }
        let calendars = try DefinitionLoader.parseCalendars(calendarsYAML, file: "calendars.yaml")
        func hoursText(_ random: inout SeededGenerator) -> Int64 { Int64(Int.random(in: 1...60, using: &random)) * 1_800 }
        let targets = ["west": hoursText(&random), "east": hoursText(&random)]
        let olas = ["review": hoursText(&random), "done": hoursText(&random)]
        let definitionYAML = """
            journey_type: flow
            version: "1"
            tiers: [west, east]
            stages:
              - {id: intake, department: sales}
              - {id: review, department: legal}
              - {id: done, department: ops}
            transitions:
              - {from: intake, to: review, handoff: {ola: \(olas["review"]!)s, calendar: west}}
              - {from: review, to: done, handoff: {ola: \(olas["done"]!)s, calendar: east}}
            sla:
              - {name: resolve, tiers: [west], start: journey-started, stop: stage:done, target: \(targets["west"]!)s, calendar: west}
              - {name: resolve, default: true, start: journey-started, stop: stage:done, target: \(targets["east"]!)s, calendar: east}
            """
        let definition = try DefinitionLoader.parseJourney(definitionYAML, file: "flow.yaml", calendars: calendars)
        let catalog = JourneyCatalog(JourneyConfiguration(calendars: calendars, definitions: ["flow": definition]))
        let store = try await TestDatabase.freshStore(maxConnections: 8)
        defer { Task { await store.close() } }
        let client = WaymarkClient(store: store, catalog: catalog, logger: TestDatabase.quietLogger)
        let projection = SLAProjection(catalog: catalog, logger: TestDatabase.quietLogger)
        let analytics = store.schema + "_analytics"
        let runner = try ProjectionRunner(
            store: store, projections: [projection], analyticsSchema: analytics, batchSize: 50, standbyInterval: .milliseconds(100),
            logger: TestDatabase.quietLogger)
        let sql = SQLClocks(store: store, functions: "\(PostgresIdentifier.quote(store.schema)).proj_sla_v\(projection.version)b1_business")
        return try await withServices([runner]) {
            // The expected clocks need the build's functions.
            let built = try await eventually {
                try await store.query(
                    "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = \(store.schema) AND proname LIKE 'proj_sla_%'"
                )[0]
                .decode(Int64.self, at: 0) == 2
            }
            guard built else { throw CheckFailure("the SLA build's functions did not appear") }
            var expected: [String: [String?]] = [:]
            for index in 0..<12 {
                let journey = try await Self.journey(
                    "j-\(index)", tier: random.chance(0.5) ? "west" : "east", targets: targets, olas: olas, sql: sql, client: client, random: &random)
                for (key, row) in journey { expected[key] = row }
            }
            guard try await runner.waitUntilCaughtUp("sla", timeout: TestTime.deadline) else {
                throw CheckFailure("the SLA build did not catch up")
            }
            let columns =
                "(extract(epoch FROM breach_at) * 1000000)::int8::text, state, ever_breached::text, breach_department, (extract(epoch FROM reached_100_at) * 1000000)::int8::text"
            var actual: [String: [String?]] = [:]
            for (view, key) in [("sla", "journey_id || '/sla'"), ("ola", "journey_id || '/ola-' || handoff_no")] {
                let rows = try await store.query(
                    PostgresQuery(sql: "SELECT \(key), \(columns) FROM \(PostgresIdentifier.quote(analytics)).\(view)"))
                for row in rows { actual[try row.decode(String.self, at: 0)] = try (1..<row.columnCount).map { try row.decode(String?.self, at: $0) } }
            }
            #expect(Set(actual.keys) == Set(expected.keys), "seed \(seed): clocks")
            for (key, row) in expected.sorted(by: { $0.key < $1.key }) {
                #expect(
                    actual[key] == row,
                    "seed \(seed) \(key): projection \(actual[key].map { "\($0)" } ?? "none"), SQL \(row)\n\(calendarsYAML)\(definitionYAML)")
            }
            return expected.keys.filter { actual[$0] != nil }.count
        }
    }

    /// What the SQL functions and the rule by instants say of one clock, kept as the journey goes.
    struct Expected {
        var calendar: String
        var target: Double
        var elapsed: Double = 0
        var runningSince: Date?
        var deadline: Date
        var breachedAt: Date?
        var breachDepartment: String?
        var state = "running"

        /// The row the view should show: breach_at, state, ever_breached, breach_department, reached_100_at.
        func row() -> [String?] {
            let breachAt = breachedAt ?? deadline
            return [
                String(BusinessTimeline.micros(breachAt)), state, String(breachedAt != nil), breachDepartment,
                breachedAt.map { String(BusinessTimeline.micros($0)) },
            ]
        }
    }

    /// Writes one journey and returns its clocks' expected rows by `journey/sla` and `journey/ola-n`.
    static func journey(
        _ id: String, tier: String, targets: [String: Int64], olas: [String: Int64], sql: SQLClocks, client: WaymarkClient, random: inout SeededGenerator
    ) async throws -> [String: [String?]] {
        // Near a DST change of either hemisphere, or anywhere in 2026.
        let anchors = ["2026-03-08", "2026-03-29", "2026-04-05", "2026-10-04", "2026-10-25", "2026-11-01", "2026-12-24", "2027-03-26"]
        let anchor = ISO8601DateFormatter().date(from: anchors.randomElement(using: &random)! + "T00:00:00Z")!
        var now = anchor.addingTimeInterval(Double(Int.random(in: -5 * 86_400...86_400, using: &random)))
        var stage = "intake"
        var waiting = false
        var pending: (to: String, clock: Int)?
        var sla = Expected(
            calendar: tier, target: Double(targets[tier]!), runningSince: now, deadline: try await sql.add(tier, now, Double(targets[tier]!)))
        var handoffs: [Expected] = []
        func send(_ command: JourneyCommand, at: Date) async throws {
            try await client.send(command, to: id, context: CommandContext(commandId: UUID(), actor: "prop", sourceSystem: "test", occurredAt: at))
        }
        try await send(.start(.init(journeyId: id, customerId: "c-\(id)", journeyType: "flow", tier: tier)), at: now)
        /// Notes, before an event at `at`, the deadlines it reaches: the department is still the one before the event.
        func reach(_ clock: inout Expected, at: Date) {
            guard clock.state == "running", clock.runningSince != nil, clock.breachedAt == nil, at >= clock.deadline else { return }
            clock.breachedAt = clock.deadline
            clock.breachDepartment = departments[stage]
        }
        func stop(_ clock: inout Expected, at: Date, as state: String) async throws {
            if let since = clock.runningSince {
                clock.elapsed += try await sql.seconds(clock.calendar, since, at)
            } else if clock.state == "running", clock.breachedAt == nil, clock.elapsed < clock.target {
                // Stopped while paused: the deadline as if the pause had ended at the stop.
                clock.deadline = try await sql.add(clock.calendar, at, clock.target - clock.elapsed)
            }
            clock.runningSince = nil
            clock.state = state == "cancelled" ? state : (clock.breachedAt != nil ? "breached-closed" : "met")
        }
        for step in 0..<10 {
            // What may happen next, as the domain allows it.
            var actions = ["cancel"]
            if waiting { actions += ["resume", "resume"] } else { actions += ["wait"] }
            if pending != nil { actions += ["accept", "accept", "accept"] } else if !waiting { actions += ["request", "request", "request"] }
            let action = step == 9 ? (pending != nil ? "accept" : "cancel") : actions.randomElement(using: &random)!
            // A stop or a move often comes exactly at a deadline, a second before it, or in the closed hours after it.
            var at = now.addingTimeInterval(Double(Int.random(in: 60...(2 * 86_400), using: &random)))
            let deadlineClock = action == "accept" ? pending.map { handoffs[$0.clock] } : (sla.runningSince != nil && sla.breachedAt == nil ? sla : nil)
            if ["accept", "cancel"].contains(action), let clock = deadlineClock, random.chance(0.6) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0: at = clock.deadline
                case 1: at = clock.deadline.addingTimeInterval(-1)
                default:
                    // The next business second after the deadline shows how long it is closed then.
                    let next = try await sql.add(clock.calendar, clock.deadline, 1)
                    let closed = Int(next.timeIntervalSince(clock.deadline)) - 1
                    at = clock.deadline.addingTimeInterval(Double(closed > 0 ? Int.random(in: 1...closed, using: &random) : 1))
                }
                if at <= now { at = now.addingTimeInterval(1) }
            }
            now = at
            reach(&sla, at: at)
            for index in handoffs.indices { reach(&handoffs[index], at: at) }
            switch action {
            case "wait":
                try await send(.waitOnCustomer(reason: "details"), at: at)
                waiting = true
                if let since = sla.runningSince, sla.state == "running" {
                    sla.elapsed += try await sql.seconds(sla.calendar, since, at)
                    sla.runningSince = nil
                }
            case "resume":
                try await send(.resume, at: at)
                waiting = false
                if sla.state == "running" {
                    sla.runningSince = at
                    if sla.breachedAt == nil { sla.deadline = try await sql.add(sla.calendar, at, sla.target - sla.elapsed) }
                }
            case "request":
                let to = stage == "intake" ? "review" : "done"
                try await send(.requestHandoff(toStage: to, facts: [:]), at: at)
                let calendar = to == "review" ? "west" : "east"
                handoffs.append(
                    Expected(
                        calendar: calendar, target: Double(olas[to]!), runningSince: at,
                        deadline: try await sql.add(calendar, at, Double(olas[to]!))))
                pending = (to, handoffs.count - 1)
            case "accept":
                try await send(.acceptHandoff(by: "someone"), at: at)
                try await stop(&handoffs[pending!.clock], at: at, as: "accepted")
                stage = pending!.to
                pending = nil
                if stage == "done" { try await stop(&sla, at: at, as: "stopped") }
            default:
                try await send(.cancel(reason: "gone"), at: at)
                try await stop(&sla, at: at, as: "cancelled")
                for index in handoffs.indices where handoffs[index].state == "running" {
                    try await stop(&handoffs[index], at: at, as: "cancelled")
                }
            }
            if sla.state != "running" { break }
        }
        if sla.state == "running" {
            // Every clock ends closed, so no figure depends on now().
            now = now.addingTimeInterval(3_600)
            reach(&sla, at: now)
            for index in handoffs.indices { reach(&handoffs[index], at: now) }
            try await send(.cancel(reason: "gone"), at: now)
            try await stop(&sla, at: now, as: "cancelled")
            for index in handoffs.indices where handoffs[index].state == "running" { try await stop(&handoffs[index], at: now, as: "cancelled") }
        }
        var rows = ["\(id)/sla": sla.row()]
        for (index, clock) in handoffs.enumerated() { rows["\(id)/ola-\(index + 1)"] = clock.row() }
        return rows
    }
}

/// The build's SQL functions, called as the views call them.
struct SQLClocks {
    let store: EventStore
    let functions: String

    func seconds(_ calendar: String, _ from: Date, _ to: Date) async throws -> Double {
        try await store.query(
            PostgresQuery(
                sql: "SELECT \(functions)_seconds($1, $2::timestamptz, $3::timestamptz)",
                binds: [calendar, TimestampText.iso8601(from), TimestampText.iso8601(to)]))[0].decode(Double.self, at: 0)
    }

    func add(_ calendar: String, _ from: Date, _ seconds: Double) async throws -> Date {
        let micros = try await store.query(
            PostgresQuery(
                sql: "SELECT (extract(epoch FROM \(functions)_add($1, $2::timestamptz, $3::float8)) * 1000000)::int8",
                binds: [calendar, TimestampText.iso8601(from), seconds]))[0].decode(Int64.self, at: 0)
        return BusinessTimeline.date(micros: micros)
    }
}

struct CheckFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
