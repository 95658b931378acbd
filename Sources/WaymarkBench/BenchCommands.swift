import ArgumentParser
import Foundation
import Logging
import Synchronization
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkRuntime
import WaymarkSimulation

/// Journey commands through `WaymarkClient.send` beside plain `EventStore.append`s of the same
/// events, at 1 and 16 concurrent clients, in the same run.
struct BenchCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "Journey commands sent one at a time through the client at 1 and 16 clients, against plain appends of the same events.")

    @OptionGroup var database: RuntimeOptions
    @OptionGroup var definitions: DefinitionOptions

    @Option(parsing: .unconditional, help: "Commands per scenario and side.")
    var commands: Int = 8_000

    func validate() throws {
        try requireAtLeast(256, commands, "--commands")
    }

    /// One command of a client's queue: what `send` gets, and what the plain side appends instead.
    struct Step: Sendable {
        var request: JourneyCommandRequest
        var plainStream: String
        var plainExpected: Int64
        var plainEvents: [EventData]
    }

    func run() async throws {
        let catalog = try database.runtime(definitions.overrides).catalog()
        try await withBenchStore(database) { store in
            var quiet = Logger(label: "waymark.bench")
            quiet.logLevel = .warning
            let client = WaymarkClient(store: store, catalog: catalog, logger: quiet)
            print("waymark bench commands")
            try await printServer(store)
            print("  waymark side: WaymarkClient.send(command, to: journey) one command at a time per client, commands of simulated journeys")
            print("  plain side: EventStore.append of the events those commands write, with .exact(n), to streams of their own")
            print("  one client alternates the sides command by command; 16 clients alternate them in ABBA rounds\n")
            var nextJourney = 0
            for clients in [1, 16] {
                let queues = try Self.queues(
                    clients: clients, perClient: commands / clients + 1, client: client, catalog: catalog, firstJourney: &nextJourney)
                let cursors = Mutex<[Bool: [Int]]>([true: Array(repeating: 0, count: clients), false: Array(repeating: 0, count: clients)])
                @Sendable func next(_ side: Bool, _ writer: Int) -> Step {
                    let position = cursors.withLock { cursors in
                        defer { cursors[side]![writer] += 1 }
                        return cursors[side]![writer]
                    }
                    return queues[writer][position]
                }
                let (waymark, plain) = try await BenchComparison.compare(
                    writers: clients, count: commands, eventsPerOperation: 1,
                    waymark: { writer, _ in
                        let step = next(true, writer)
                        try await client.send(step.request.command, to: step.request.journeyId, context: step.request.context)
                    },
                    plain: { writer, _ in
                        let step = next(false, writer)
                        try await store.append(to: step.plainStream, expected: .exact(step.plainExpected), events: step.plainEvents)
                    })
                let ratio = waymark.eventsPerSecond / plain.eventsPerSecond
                let target = clients == 16 ? String(format: "(target ≥ 0.7) %@", ratio >= 0.7 ? "ok" : "BELOW TARGET") : "(no target)"
                print(
                    "send, \(clients) client\(clients == 1 ? "" : "s")".padding(toLength: 18, withPad: " ", startingAt: 0),
                    String(
                        format:
                            "send %7.0f cmd/s  p50 %6.3f ms  p99 %6.3f ms | append %7.0f cmd/s  p50 %6.3f ms  p99 %6.3f ms | ratio %.2f %@ | client CPU µs/cmd %.1f vs %.1f",
                        waymark.eventsPerSecond, waymark.p50.milliseconds, waymark.p99.milliseconds, plain.eventsPerSecond, plain.p50.milliseconds,
                        plain.p99.milliseconds, ratio, target as NSString, waymark.clientCPU, plain.clientCPU))
            }
        }
    }

    /// A queue of commands per client, from simulated journeys of its own (starting at journey
    /// `firstJourney`), interleaved over eight journeys at a time as a service working through
    /// many journeys would send them; with the plain side's append of each command's events.
    static func queues(clients: Int, perClient: Int, client: WaymarkClient, catalog: JourneyCatalog, firstJourney: inout Int) throws -> [[Step]] {
        var queues: [[Step]] = Array(repeating: [], count: clients)
        for index in 0..<clients {
            while queues[index].count < perClient {
                let options = SimulationOptions(journeys: 8, seed: UInt64(1_000 + firstJourney), until: Date(timeIntervalSince1970: 1_790_000_000))
                firstJourney += 1
                let scripts = Simulator.journeyScripts(options, catalog: catalog)
                var states = [String: (JourneyState, Int64)]()
                let longest = scripts.map(\.commands.count).max() ?? 0
                for position in 0..<longest {
                    for script in scripts where position < script.commands.count {
                        let scripted = script.commands[position]
                        let context = CommandContext(
                            commandId: scripted.commandId, actor: scripted.actor, sourceSystem: scripted.sourceSystem, occurredAt: scripted.occurredAt)
                        let (state, version) = states[script.journeyId] ?? (JourneyState(), 0)
                        let (events, after) = try client.decide(scripted.command, to: script.journeyId, on: state, context: context)
                        states[script.journeyId] = (after, version + Int64(events.count))
                        queues[index].append(
                            Step(
                                request: JourneyCommandRequest(scripted.command, to: script.journeyId, context: context),
                                plainStream: "plain-\(script.journeyId)", plainExpected: version,
                                plainEvents: events.map { EventData(type: $0.type, data: $0.data, metadata: $0.metadata) }))
                    }
                }
            }
        }
        return queues
    }
}
