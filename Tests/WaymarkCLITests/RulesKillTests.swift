import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("waymark process-manager: the rules engine", .scaledTimeLimit(minutes: 5))
struct RulesKillTests {
    @Test(
        "two process managers judging delayed shipments, one killed with SIGKILL again and again: every event judged, each rule fired once, nothing recorded twice"
    )
    func killedAgainAndAgain() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let config = repository.appendingPathComponent("config")
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("rxk")
        let database = ["--database-url", url, "--schema", schema, "--log-level", "warning"]
        let (migrated, output) = try await waymark(["migrate"] + database)
        #expect(migrated == 0, "\(output)")
        let store = try cliStore(url: url, schema: schema)
        defer { Task { await store.close() } }
        let client = WaymarkClient(store: store, catalog: JourneyCatalog(try DefinitionLoader.load(directory: config)), logger: TestDatabase.quietLogger)
        let customers = CustomerDirectory(client: client)
        let consents = ConsentRegistry(client: client)

        // 200 orders: strategic ones get a credit, a message and an escalation; standard ones the
        // message only; a customer without consent a suppression.
        let journeys = (0..<200).map { String(format: "rk-%03d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<4 {
                group.addTask {
                    for (index, journey) in journeys.enumerated() where index % 4 == part {
                        let customer = "c-\(journey)"
                        let tier = index % 2 == 0 ? "strategic" : "standard"
                        try await customers.register(customerId: customer, name: PersonalData("Customer \(journey)"), tier: tier)
                        if index % 10 != 0 {
                            let record = ConsentRecord(
                                scope: ConsentScope(purpose: "service-updates", channel: "email"), legalBasis: .consent, noticeVersion: "n1",
                                collectionPoint: "web", proofReference: "p-\(journey)")
                            try await consents.record(.give(record), subject: customer)
                        }
                        try await client.send(.start(.init(customerId: customer, journeyType: "order-to-cash", tier: tier)), to: journey)
                    }
                }
            }
            try await group.waitForAll()
        }

        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-rxk-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: logs) }
        func instance(_ name: String) throws -> Process {
            try startWaymark(["process-manager", "run", "--instance", name, "--definitions", config.path] + database, output: logs)
        }
        var running = [try instance("pm-a"), try instance("pm-b")]

        // Four delays per order, 800 triggers, appended in batches while pm-b is killed.
        var triggers: [UUID: String] = [:]
        var batches: [[StreamAppend]] = []
        for round in 0..<4 {
            var batch: [StreamAppend] = []
            for journey in journeys {
                let id = UUID()
                triggers[id] = journey
                let data = #"{"journeyId":"\#(journey)","orderId":"SO-\#(journey)","delayHours":\#(30 + 24 * round),"newDeliveryDate":"2026-12-20"}"#
                batch.append(
                    StreamAppend(
                        to: "shipment-SO-\(journey)",
                        events: [
                            EventData(
                                id: id, type: "ShipmentDelayed", data: data,
                                metadata: EventMetadata(correlationId: journey, actor: "erp-sync", sourceSystem: "erp"))
                        ]))
            }
            batches.append(batch)
        }
        func judged() async throws -> Int {
            try await store.query("SELECT count(*)::int8 FROM rx_fired")[0].decode(Int.self, at: 0)
        }
        var kills = 0
        var killsMidway = 0
        let deadline = ContinuousClock.now + .seconds(150)
        while try await judged() < triggers.count, ContinuousClock.now < deadline {
            if !batches.isEmpty { try await store.append(batches.removeFirst()) }
            try await Task.sleep(for: .milliseconds(300 + 200 * (kills % 4)))
            kill(running[1].processIdentifier, SIGKILL)
            _ = await running[1].exited()
            kills += 1
            let seen = try await judged()
            if seen > 0 && seen < triggers.count { killsMidway += 1 }
            running[1] = try instance("pm-b")
        }
        for process in running {
            process.terminate()
            _ = await process.exited()
        }
        let instanceLogs = (try? String(contentsOf: logs, encoding: .utf8))?.suffix(3_000) ?? ""
        #expect(try await judged() == triggers.count, "the instances logged:\n\(instanceLogs)")
        #expect(killsMidway >= 3, "only \(killsMidway) kills came while events were being judged; the test proved little")

        // Each trigger judged once, on its journey, and fired (all conditions hold: open orders,
        // delays above zero); one RuleFired each, naming its trigger.
        let rows = try await store.query("SELECT trigger_event_id::text, journey_id, skipped FROM rx_fired")
        for row in rows {
            let (trigger, journey, skipped) = try row.decode(String.self, String?.self, String?.self)
            let id = try #require(UUID(uuidString: trigger))
            #expect(journey == triggers[id] && skipped == nil, "\(trigger): \(journey ?? "-") \(skipped ?? "")")
        }
        let fired = try await store.query(
            "SELECT data->'trigger'->>'eventId', count(*)::int8 FROM events WHERE event_type = 'RuleFired' GROUP BY 1")
        let firedCounts = try fired.map { try $0.decode(String.self, Int.self) }
        #expect(firedCounts.count == triggers.count && firedCounts.allSatisfy { $0.1 == 1 })

        // What each journey got: per delay a RuleFired, then (strategic, at least 48 hours) the
        // credit, the message or its suppression, and (strategic) the escalation and its notice.
        let types = try await store.query(
            """
            SELECT stream_name, event_type, count(*)::int8 FROM events
            WHERE category = 'journey' AND metadata->>'actor' = 'rules' GROUP BY 1, 2
            """)
        var byJourney: [String: [String: Int]] = [:]
        for row in types {
            let (stream, type, count) = try row.decode(String.self, String.self, Int.self)
            byJourney[String(stream.dropFirst("journey-".count)), default: [:]][type] = count
        }
        for (index, journey) in journeys.enumerated() {
            let strategic = index % 2 == 0
            let consented = index % 10 != 0
            var expected = ["RuleFired": 4, consented ? "NotificationRequested" : "NotificationSuppressed": 4]
            if strategic {
                // Delays of 30, 54, 78 and 102 hours: a credit from 48 hours on.
                expected["CompensationOwed"] = 3
                expected["EscalationRaised"] = 4
                expected["NotificationRequested", default: 0] += 4
            }
            #expect(byJourney[journey] == expected, "\(journey)")
        }
    }
}
