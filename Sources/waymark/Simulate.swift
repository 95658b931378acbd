import ArgumentParser
import Foundation
import Logging
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkRuntime
import WaymarkSimulation

/// `--rate`: commands per second, or `max`.
enum RateOption: ExpressibleByArgument, Equatable {
    case max
    case perSecond(Double)

    init?(argument: String) {
        if argument == "max" {
            self = .max
        } else if let value = Double(argument), value > 0, value.isFinite {
            self = .perSecond(value)
        } else {
            return nil
        }
    }

    var commandsPerSecond: Double? {
        if case .perSecond(let value) = self { return value }
        return nil
    }
}

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Drive realistic customer journeys through the client: customers, consent, journeys across departments, handoffs, waits, stalls, cancellations, feedback.",
        discussion: """
            Everything follows from --seed and --until: the same pair produces the same events (and running it again writes nothing).
            Without --until the simulated period ends at the start of the current hour.
            """)

    @OptionGroup var options: RuntimeOptions
    @OptionGroup var definitions: DefinitionOptions

    @Option(help: "How many journeys to simulate (customers are a third as many).")
    var journeys: Int

    @Option(help: "Seed of the simulation (a non-negative integer).")
    var seed: UInt64 = 1

    @Option(help: "Commands per second over all senders, or 'max'.")
    var rate: RateOption = .max

    @Option(help: "End of the simulated period, ISO 8601 (e.g. 2026-11-26T09:00:00Z); default: the start of this hour.")
    var until: String?

    @Option(help: "Length of the simulated period in days.")
    var days: Int = 60

    @Option(help: "Concurrent senders (connections).")
    var senders: Int = 4

    func validate() throws {
        guard journeys >= 1 else { throw ValidationError("--journeys must be at least 1, not \(journeys)") }
        guard (1...3650).contains(days) else { throw ValidationError("--days must be between 1 and 3650, not \(days)") }
        guard (1...64).contains(senders) else { throw ValidationError("--senders must be between 1 and 64, not \(senders)") }
        if let until, ISO8601DateFormatter().date(from: until) == nil {
            throw ValidationError("--until '\(until)' is not an ISO 8601 time such as 2026-11-26T09:00:00Z")
        }
    }

    func run() async throws {
        let runtime = try options.runtime(definitions.overrides)
        let end = until.flatMap { ISO8601DateFormatter().date(from: $0) } ?? SimulationOptions.defaultUntil()
        // Each sender keeps up to four commands in flight.
        let poolSize = max(runtime.configuration.database.pool.client, senders * 4 + 1)
        try await runtime.withDatabase { database in
            try await database.withClient(poolSize: poolSize) { services in try await simulate(services.client, until: end, logger: runtime.logger) }
        }
    }

    func simulate(_ client: WaymarkClient, until end: Date, logger: Logger) async throws {
        let simulator = Simulator(client: client, logger: logger)
        let options = SimulationOptions(
            journeys: journeys, seed: seed, commandsPerSecond: rate.commandsPerSecond, until: end, days: days, senders: senders)
        print("simulating \(journeys) journeys, seed \(seed), period of \(days) days until \(ISO8601DateFormatter().string(from: end)), rate \(rate.label)")
        let started = ContinuousClock.now
        let counts = try await withThrowingTaskGroup(of: SimulationCounts?.self) { group in
            group.addTask { try await simulator.run(options) }
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(2))
                    let now = simulator.progress
                    let seconds = (ContinuousClock.now - started).seconds
                    print(
                        "  \(now.journeysStarted)/\(journeys) journeys, \(now.commands) commands, \(now.events) events, \(Int(Double(now.commands) / seconds)) commands/s"
                    )
                }
            }
            let counts = try await group.next()!
            group.cancelAll()
            return counts!
        }
        let seconds = (ContinuousClock.now - started).seconds
        let fates = JourneyFate.allCases.map { "\(counts.fates[$0, default: 0]) \($0.rawValue)" }.joined(separator: ", ")
        print("journeys: \(counts.journeysStarted) (\(fates)); customers: \(counts.customers)")
        print("commands: \(counts.commands), events: \(counts.events), refused: \(counts.rejected)")
        print("integration events: \(counts.integrationSummary)")
        print(String(format: "took %.2f s: %.0f commands/s, %.0f events/s", seconds, Double(counts.commands) / seconds, Double(counts.events) / seconds))
    }
}

extension RateOption {
    var label: String { commandsPerSecond.map { "\(Int($0)) commands/s" } ?? "max" }
}
