import Foundation
import NIOHTTP1
import Testing
import WaymarkClient
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkProcessManager
import WaymarkServer
import WaymarkTesting

@Suite("HTTP API: views and operations", .scaledTimeLimit(minutes: 4))
struct ViewRoutesTests {
    /// Five orders for two customers, one of them strategic with a name and a feedback comment
    /// that no analyst may see; a low CSAT that the process manager escalates.
    static func seed(_ fixture: ServerFixture) async throws {
        let customers = CustomerDirectory(client: fixture.client)
        try await customers.register(customerId: "c-1", name: PersonalData("Zebediah Planted"), tier: "strategic")
        try await customers.register(customerId: "c-2", name: PersonalData("Ottoline Planted"), tier: "standard")
        for index in 1...5 {
            let customer = index <= 3 ? "c-1" : "c-2"
            try await fixture.client.send(
                .start(.init(customerId: customer, journeyType: "order-to-cash", tier: customer == "c-1" ? "strategic" : "standard")), to: "o-\(index)",
                context: CommandContext(commandId: UUID(), occurredAt: Date().addingTimeInterval(Double(index - 10) * 60)))
        }
        try await fixture.client.send(
            .recordFeedback(.init(kind: .csat, score: 1, channel: "web", comment: PersonalData("planted-secret-comment"))), to: "o-1")
        try await ConsentRegistry(client: fixture.client).record(
            .give(
                ConsentRecord(
                    scope: ConsentScope(purpose: "service-updates", channel: "email"), legalBasis: .consent, noticeVersion: "n1", collectionPoint: "web",
                    proofReference: "p1")), subject: "c-1")
    }

    static func processManager(_ fixture: ServerFixture) throws -> ProcessManager {
        let catalog = fixture.client.catalog
        let settings = try ProcessManagerSettings.load(directory: repositoryDirectory.appendingPathComponent("config"), catalog: catalog)
        return try ProcessManager(store: fixture.store, definitions: DefinitionLibrary(catalog), settings: settings, logger: TestDatabase.quietLogger)
    }

    @Test("journeys filtered and paged by cursor; a filter the listing lacks, or a value of the wrong form, is refused with its parameter")
    func journeysPaged() async throws {
        try await ServerFixture.run { fixture in
            try await Self.seed(fixture)
            try await fixture.catchUpProjections()
            let strategic = try await fixture.request(.GET, "/v1/journeys?tier=strategic&type=order-to-cash", key: fixture.key(.analyst))
            #expect(strategic.status == 200, "\(strategic.text)")
            let rows = strategic.json["rows"] as? [[String: Any]] ?? []
            #expect(rows.compactMap { $0["journeyId"] as? String } == ["o-1", "o-2", "o-3"], "\(strategic.text)")
            #expect(rows.first?["journeyType"] as? String == "order-to-cash" && rows.first?["status"] as? String == "active")

            var seen: [String] = []
            var cursor: String?
            repeat {
                let path = "/v1/journeys?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await fixture.request(.GET, path, key: fixture.key(.operator))
                seen += (page.json["rows"] as? [[String: Any]] ?? []).compactMap { $0["journeyId"] as? String }
                cursor = page.json["nextCursor"] as? String
            } while cursor != nil && seen.count < 20
            #expect(seen == ["o-1", "o-2", "o-3", "o-4", "o-5"])

            for (query, field) in [
                ("colour=red", "query.colour"), ("startedFrom=yesterday", "query.startedFrom"), ("cursor=bm9wZQ", "query.cursor"),
                ("limit=0", "query.limit"),
            ] {
                let reply = try await fixture.request(.GET, "/v1/journeys?\(query)", key: fixture.key(.analyst))
                #expect(reply.status == 400 && reply.json["field"] as? String == field, "\(query): \(reply.text)")
            }
            let none = try await fixture.request(.GET, "/v1/journeys?startedFrom=2999-01-01T00:00:00Z", key: fixture.key(.analyst))
            #expect((none.json["rows"] as? [Any])?.isEmpty == true && none.json["nextCursor"] == nil)
        }
    }

    @Test("a journey with its stages, SLA clocks, escalation and events; no reply to an analyst holds a personal value; an operator acknowledges")
    func journeyDetailAndAcknowledge() async throws {
        try await ServerFixture.run { fixture in
            try await Self.seed(fixture)
            let manager = try Self.processManager(fixture)
            // The process manager escalates the low CSAT at once; then the views catch up.
            try await withServices([manager]) {
                let raised = try await eventually(timeout: .seconds(60)) {
                    try await fixture.store.readStream("journey-o-1").events.contains { $0.type == "EscalationRaised" }
                }
                #expect(raised)
            }
            try await fixture.catchUpProjections()
            let detail = try await fixture.request(.GET, "/v1/journeys/o-1", key: fixture.key(.analyst))
            #expect(detail.status == 200, "\(detail.text)")
            #expect((detail.json["journey"] as? [String: Any])?["lastCsat"] as? Int == 1)
            #expect((detail.json["stages"] as? [[String: Any]])?.first?["visitNo"] as? Int == 1)
            #expect((detail.json["sla"] as? [[String: Any]])?.isEmpty == false)
            let events = (detail.json["events"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(events.starts(with: ["JourneyStarted"]) && events.contains("FeedbackReceived") && events.contains("EscalationRaised"))
            let escalation = try #require((detail.json["escalations"] as? [[String: Any]])?.first)
            let escalationId = try #require(escalation["escalationId"] as? String)
            #expect(escalation["reason"] as? String == "low_score" && escalation["state"] as? String == "open")

            // Everything an analyst may read, with the planted personal values nowhere in it.
            for path in [
                "/v1/journeys", "/v1/journeys/o-1", "/v1/sla", "/v1/escalations", "/v1/subjects/c-1/consents",
            ] {
                let reply = try await fixture.request(.GET, path, key: fixture.key(.analyst))
                #expect(reply.status == 200, "\(path): \(reply.text)")
                #expect(!reply.text.contains("Planted") && !reply.text.contains("planted-secret-comment"), "\(path) leaks: \(reply.text)")
            }

            let open = try await fixture.request(.GET, "/v1/escalations?state=open&reason=low_score", key: fixture.key(.operator))
            #expect((open.json["rows"] as? [[String: Any]])?.compactMap { $0["escalationId"] as? String } == [escalationId], "\(open.text)")
            let path =
                "/v1/journeys/o-1/escalations/\(escalationId.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))!)/acknowledgement"
            let byAnalyst = try await fixture.request(.POST, path, key: fixture.key(.analyst), json: #"{"by":"dana"}"#)
            #expect(byAnalyst.status == 403)
            let acknowledged = try await fixture.request(.POST, path, key: fixture.key(.operator), json: #"{"by":"dana@service","note":"called back"}"#)
            #expect(acknowledged.status == 201, "\(acknowledged.text)")
            #expect((acknowledged.json["events"] as? [[String: Any]])?.first?["type"] as? String == "EscalationAcknowledged")
            let twice = try await fixture.request(.POST, path, key: fixture.key(.operator), json: #"{"by":"dana@service"}"#)
            #expect(twice.status == 422 && twice.code == "escalation_already_acknowledged", "\(twice.text)")
            let unknown = try await fixture.request(
                .POST, "/v1/journeys/o-1/escalations/nope/acknowledgement", key: fixture.key(.operator), json: #"{"by":"dana"}"#)
            #expect(unknown.status == 404 && unknown.code == "unknown_escalation", "\(unknown.text)")
            let missing = try await fixture.request(.GET, "/v1/journeys/o-404", key: fixture.key(.analyst))
            #expect(missing.status == 404 && missing.code == "not_found")
        }
    }

    @Test("SLA search by remaining time and state; consents now and as of before they were given; projection and process-manager status; a rebuild")
    func slaConsentsAndOperations() async throws {
        try await ServerFixture.run { fixture in
            try await Self.seed(fixture)
            try await fixture.catchUpProjections()
            let all = try await fixture.request(.GET, "/v1/sla?state=running", key: fixture.key(.analyst))
            let clocks = all.json["rows"] as? [[String: Any]] ?? []
            #expect(all.status == 200 && !clocks.isEmpty, "\(all.text)")
            #expect(clocks.allSatisfy { ($0["remaining"] as? String)?.hasPrefix("P") == true }, "intervals as ISO 8601: \(clocks.first ?? [:])")
            let none = try await fixture.request(.GET, "/v1/sla?remainingBelow=PT0S", key: fixture.key(.analyst))
            #expect((none.json["rows"] as? [Any])?.isEmpty == true, "\(none.text)")
            let wide = try await fixture.request(.GET, "/v1/sla?remainingBelow=100000%20hours", key: fixture.key(.analyst))
            #expect((wide.json["rows"] as? [Any])?.count == clocks.count, "\(wide.text)")
            let negative = try await fixture.request(.GET, "/v1/sla?remainingBelow=-PT4H", key: fixture.key(.analyst))
            #expect(negative.status == 400 && negative.json["field"] as? String == "query.remainingBelow", "\(negative.text)")
            let bad = try await fixture.request(.GET, "/v1/sla?remainingBelow=1;DROP", key: fixture.key(.analyst))
            #expect(bad.status == 400 && bad.json["field"] as? String == "query.remainingBelow", "\(bad.text)")

            let now = try await fixture.request(.GET, "/v1/subjects/c-1/consents", key: fixture.key(.analyst))
            let consents = now.json["consents"] as? [[String: Any]] ?? []
            #expect(consents.contains { $0["purpose"] as? String == "service-updates" && $0["status"] as? String == "granted" }, "\(now.text)")
            #expect(now.json["propagation"] != nil)
            let before = try await fixture.request(.GET, "/v1/subjects/c-1/consents?asOf=2020-01-01T00:00:00Z", key: fixture.key(.analyst))
            #expect((before.json["consents"] as? [Any])?.isEmpty == true && before.json["propagation"] == nil, "\(before.text)")

            let projections = try await fixture.request(.GET, "/v1/projections", key: fixture.key(.operator))
            let builds = (try? JSONSerialization.jsonObject(with: projections.body)) as? [[String: Any]] ?? []
            #expect(Set(builds.compactMap { $0["name"] as? String }).isSuperset(of: ["journeys", "sla", "consent"]), "\(projections.text)")
            #expect(builds.allSatisfy { $0["state"] as? String == "live" })
            let rebuild = try await fixture.request(.POST, "/v1/projections/journeys/rebuild", key: fixture.key(.operator))
            #expect(rebuild.status == 202 && rebuild.json["build"] as? Int == 2, "\(rebuild.text)")
            let unknown = try await fixture.request(.POST, "/v1/projections/nothing/rebuild", key: fixture.key(.operator))
            #expect(unknown.status == 404 && unknown.code == "unknown_projection", "\(unknown.text)")
            let manager = try await fixture.request(.GET, "/v1/process-manager", key: fixture.key(.operator))
            #expect(manager.status == 200 && manager.json["pending"] as? Int == 0, "\(manager.text)")
        }
    }
}
