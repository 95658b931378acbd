import Foundation
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkTesting

@Suite("Process manager: status, rebuild from the log, an unmigrated schema", .scaledTimeLimit(minutes: 5))
struct OperatorTests {
    @Test("a rebuild drops the deadline table; derived again from the log, the deadlines that fired count as fired and nothing fires twice")
    func rebuildFiresNothingTwice() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.startCase("case-1")
        // Both made now: a manager's wall time starts at the origin when it is made.
        let first = try fixture.processManager(instance: "pm-1")
        let second = try fixture.processManager(instance: "pm-2")
        try await withServices([first]) {
            #expect(try await first.waitUntilScheduled(timeout: TestTime.deadline))
            try await fixture.advance(to: 61)
            try await eventually("50 %, 75 %, the breach and two levels", observing: { try await fixture.decisions("case-1").map(\.label) }) {
                $0.count == 5
            }
        }
        let before = try await fixture.decisions("case-1").map(\.label)

        try await ProcessManagerRebuild.rebuild(fixture.store, logger: TestDatabase.quietLogger)
        let left = try await fixture.store.pool.query(
            "SELECT (SELECT count(*) FROM pm_deadlines) + (SELECT count(*) FROM pm_watches) + (SELECT count(*) FROM pm_customers)")
        #expect(try left[0].decode(Int.self, at: 0) == 0)
        #expect(
            try await fixture.store.pool.query("SELECT 1 FROM subscription_checkpoints WHERE subscription_name = \(ProcessManager.subscriptionName)").isEmpty)

        try await withServices([second]) {
            #expect(try await second.waitUntilScheduled(timeout: TestTime.deadline))
            // Idle on the clock means a firing round found nothing due: the five are not due again.
            try await fixture.advance(to: 62)
            #expect(try await fixture.decisions("case-1").map(\.label) == before)
            try await fixture.advance(to: 241)
            try await eventually("the stall, fired by the rebuilt table", observing: { try await fixture.decisions("case-1").map(\.label) }) {
                $0.count == 6
            }
        }
        let after = try await fixture.decisions("case-1").map(\.label)
        #expect(after == before + ["stalled:stage"])
        let status = try await ProcessManagerStatus.read(fixture.store, now: fixture.at(241), logger: TestDatabase.quietLogger)
        #expect(status.instances.map(\.instance).sorted() == ["pm-1", "pm-2"])
        #expect(status.instances.first { $0.instance == "pm-2" }?.fired == 1)
    }

    @Test(
        "a rebuild under a running process manager fires nothing on the schedule it is deriving again: a tier change late in the log is folded first"
    )
    func rebuildUnderARunningManager() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        let customers = CustomerDirectory(client: fixture.client)
        try await customers.register(customerId: "c-t", name: PersonalData("Tess"), tier: "strategic", context: fixture.on(0))
        try await fixture.client.send(
            .start(.init(customerId: "c-t", journeyType: "support-case", tier: "strategic", owner: "agent-1")), to: "case-t", context: fixture.on(0))
        // Events of other customers between the start and the tier change: with batches of one event
        // the scheduler folds the start long before it reaches the change.
        for index in 0..<30 {
            try await customers.register(customerId: "c-other-\(index)", name: PersonalData("Other"), tier: "standard", context: fixture.on(1))
        }
        try await customers.changeTier(customerId: "c-t", to: "enterprise", context: fixture.on(5))
        let manager = try ProcessManager(
            store: fixture.store, definitions: DefinitionLibrary(fixture.catalog), settings: fixture.settings, time: fixture.time, instance: "pm-1",
            batchSize: 1, logger: TestDatabase.quietLogger)
        // Batches of one event, each a transaction of its own, read below the cluster's oldest open
        // writer: beside the whole suite, folding the 33 events took longer than the standard wait
        // (a local run at time scale 1).
        let folded = TestTime.scaled(.seconds(90))
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: folded))
            // Enterprise: 50 % at 2 h, the first level at 3 h. Strategic's 50 % and level (30 m) are past.
            try await fixture.advance(to: 40)
            try await ProcessManagerRebuild.rebuild(fixture.store, logger: TestDatabase.quietLogger)
            #expect(try await manager.waitUntilScheduled(timeout: folded))
            #expect(try await fixture.decisions("case-t").isEmpty, "fired on the strategic schedule while the rebuild had not folded the tier change")
            try await fixture.advance(to: 121)
            try await eventually("enterprise's 50 %", observing: { try await fixture.decisions("case-t").map(\.label) }) { $0 == ["sla:first-response:50"] }
        }
    }

    @Test("status: pending deadlines by kind, overdue ones and the oldest, the last firing, instances and what each fired")
    func status() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        try await fixture.startCase("case-1")
        try await fixture.startCase("case-2", at: 1)
        let manager = try fixture.processManager(instance: "pm-1")
        let empty = try await ProcessManagerStatus.read(fixture.store, now: fixture.at(0), logger: TestDatabase.quietLogger)
        #expect(empty.pending == 0 && empty.instances.isEmpty && empty.lastFired == nil)
        try await withServices([manager]) {
            #expect(try await manager.waitUntilScheduled(timeout: TestTime.deadline))
            let scheduled = try await ProcessManagerStatus.read(fixture.store, now: fixture.at(0), logger: TestDatabase.quietLogger)
            #expect(scheduled.pending > 0)
            #expect(scheduled.overdue == 0 && scheduled.oldestOverdue == nil)
            // Seen from 30.5 minutes on: case-1's 50 % and first level are overdue (due at 30) until fired.
            let seen = try await ProcessManagerStatus.read(fixture.store, now: fixture.at(30.5), logger: TestDatabase.quietLogger)
            #expect(seen.overdue == 2)
            #expect(seen.oldestOverdue == fixture.at(30))
            #expect(seen.kinds.filter { $0.overdue > 0 }.map(\.kind) == ["escalation_level", "sla_threshold"])
            #expect(seen.kinds.map(\.kind).contains("stage_stall"))
            try await fixture.advance(to: 30.5)
            try await eventually("case-1's 50 % and first level", observing: { try await fixture.decisions("case-1").count }) { $0 == 2 }
        }
        let fired = try await ProcessManagerStatus.read(fixture.store, now: fixture.at(30.5), logger: TestDatabase.quietLogger)
        #expect(fired.overdue == 0)
        #expect(fired.lastFired == fixture.at(30.5))
        #expect(fired.instances.map(\.instance) == ["pm-1"])
        #expect(fired.instances.first?.fired == 2)
    }

    @Test("a process manager on a schema without its migration says so, and so do status and rebuild")
    func unmigrated() async throws {
        let store = try await TestDatabase.freshStore(processManager: false)
        defer { Task { await store.close() } }
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let settings = try ProcessManagerSettings.load(directory: configDirectory, catalog: catalog)
        let manager = try ProcessManager(
            store: store, definitions: DefinitionLibrary(catalog), settings: settings, instance: "pm-1", logger: TestDatabase.quietLogger)
        await #expect {
            try await manager.run()
        } throws: { error in
            (error as? ProcessManagerError)?.code == .notMigrated && "\(error)".contains("run `waymark migrate`")
        }
        await #expect(throws: ProcessManagerError.self) { try await ProcessManagerStatus.read(store, now: Date(), logger: TestDatabase.quietLogger) }
        await #expect(throws: ProcessManagerError.self) { try await ProcessManagerRebuild.rebuild(store, logger: TestDatabase.quietLogger) }
    }
}
