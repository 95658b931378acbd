import Foundation
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkTesting

let configDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config")

/// An instant written as `2026-12-07T08:00:00Z`.
func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

/// A store migrated for the process manager, a client, and process managers on a test clock that
/// starts at `origin` (Monday 7 December 2026, 08:00 in Dublin: the support desk is open).
struct Fixture {
    let store: EventStore
    let client: WaymarkClient
    let catalog: JourneyCatalog
    let settings: ProcessManagerSettings
    let clock = TestClock()
    let origin: Date

    init(origin: Date = utc("2026-12-07T08:00:00Z")) async throws {
        store = try await TestDatabase.freshStore(maxConnections: 8)
        try await ProcessManagerSchema.migrate(store.pool, schema: store.schema, logger: TestDatabase.quietLogger)
        catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        settings = try ProcessManagerSettings.load(directory: configDirectory, catalog: catalog)
        client = WaymarkClient(store: store, catalog: catalog, logger: TestDatabase.quietLogger)
        self.origin = origin
    }

    var time: WallTime { WallTime(clock, origin: origin) }

    func processManager(instance: String = "pm-1", on store: EventStore? = nil) throws -> ProcessManager {
        try ProcessManager(
            store: store ?? self.store, definitions: DefinitionLibrary(catalog), settings: settings, time: time, instance: instance,
            logger: TestDatabase.quietLogger)
    }

    /// `minutes` after the origin.
    func at(_ minutes: Double) -> Date { origin.addingTimeInterval(minutes * 60) }

    func on(_ minutes: Double) -> CommandContext { CommandContext(commandId: UUID(), actor: "test", sourceSystem: "desk", occurredAt: at(minutes)) }

    /// Starts a support case of `tier` at `minutes` after the origin.
    func startCase(_ id: String, tier: String = "strategic", at minutes: Double = 0) async throws {
        try await client.send(
            .start(.init(customerId: "c-\(id)", journeyType: "support-case", tier: tier, owner: "agent-1")), to: id, context: on(minutes))
    }

    /// The journey's events as the domain reads them.
    func events(_ journeyId: String) async throws -> [JourneyEvent] {
        try await store.readStream(JourneyDecider.streamName(journeyId), limit: 1_000).events.compactMap {
            try JourneyEvent.decode(type: $0.type, data: $0.data, codec: .standard)
        }
    }

    /// The journey's events that the process manager recorded.
    func decisions(_ journeyId: String) async throws -> [JourneyEvent] {
        try await events(journeyId).filter {
            switch $0 {
            case .stalled, .slaThresholdCrossed, .slaBreached, .escalationRaised, .priorityRaised: return true
            default: return false
            }
        }
    }

    /// Moves the test clock to `minutes` after the origin once `managers` process managers are idle
    /// (each firing loop asleep on the clock): a wait computed before the move would otherwise be
    /// slept after it, from the new time.
    func advance(to minutes: Double, managers: Int = 1) async throws {
        try await eventually("\(managers) process managers to idle", observing: { clock.sleepers }, until: { $0 >= managers })
        let target = Duration.seconds(minutes * 60)
        let now = clock.now.offset
        if target > now { clock.advance(by: target - now) }
    }
}

extension JourneyEvent {
    /// A short name for a decision, to compare lists: `stalled:stage`, `sla:first-response:50`,
    /// `breach:first-response`, `escalation:support-lead:1`, `priority:2`, `owner:x`.
    var label: String {
        switch self {
        case .stalled(let stalled): return "stalled:\(stalled.boundary.rawValue)"
        case .slaThresholdCrossed(let crossed): return "sla:\(crossed.goal):\(crossed.percent)"
        case .slaBreached(let crossed): return "breach:\(crossed.goal)"
        case .escalationRaised(let raised): return "escalation:\(raised.role):\(raised.level)"
        case .priorityRaised(let raised): return "priority:\(raised.priority)"
        case .ownerReassigned(let reassigned): return "owner:\(reassigned.to)"
        default: return type
        }
    }
}
