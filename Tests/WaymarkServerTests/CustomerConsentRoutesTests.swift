import Foundation
import NIOHTTP1
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkServer
import WaymarkTesting

@Suite("HTTP API: customer and consent commands", .scaledTimeLimit(minutes: 3))
struct CustomerConsentRoutesTests {
    @Test("a customer registered, linked, moved up a tier and merged over HTTP; a clash and a typo refused with their codes")
    func customers() async throws {
        try await ServerFixture.run { fixture in
            func send(_ customer: String, _ body: String) async throws -> ServerFixture.Reply {
                try await fixture.request(.POST, "/v1/customers/\(customer)/commands", key: fixture.key(.service), json: body)
            }
            let registered = try await send("c-1", #"{"type":"register","name":"Ada Example","email":"ada@example.com","tier":"standard"}"#)
            #expect(registered.status == 201, "\(registered.text)")
            #expect((registered.json["events"] as? [[String: Any]])?.first?["type"] as? String == "CustomerRegistered")
            #expect(try await send("c-2", #"{"type":"register","name":"Ada E.","tier":"standard"}"#).status == 201)
            #expect(try await send("c-1", #"{"type":"link-external-id","system":"crm","externalId":"CRM-1"}"#).status == 201)
            let clash = try await send("c-2", #"{"type":"link-external-id","system":"crm","externalId":"CRM-1"}"#)
            #expect(clash.status == 422 && clash.code == "external_id_linked_elsewhere", "\(clash.text)")
            #expect(try await send("c-1", #"{"type":"change-tier","tier":"strategic"}"#).status == 201)
            let badTier = try await send("c-1", #"{"type":"change-tier","tier":"platinum"}"#)
            #expect(badTier.status == 400 && badTier.code == "unknown_tier", "\(badTier.text)")
            let merged = try await send("c-2", #"{"type":"merge-into","survivor":"c-1"}"#)
            #expect(merged.status == 201, "\(merged.text)")
            let typo = try await send("c-3", #"{"type":"register","nmae":"X","tier":"standard"}"#)
            #expect(typo.status == 400 && typo.code == "unknown_field" && typo.json["field"] as? String == "body.nmae", "\(typo.text)")
            let state = try await CustomerDirectory(client: fixture.client).state(of: "c-1")
            #expect(state.tier == "strategic")
            #expect(try await CustomerDirectory(client: fixture.client).resolve("c-2") == "c-1")
        }
    }

    @Test("consent given, a downstream report naming the decision, then withdrawn; the views' answer follows")
    func consents() async throws {
        try await ServerFixture.run { fixture in
            func send(_ body: String) async throws -> ServerFixture.Reply {
                try await fixture.request(.POST, "/v1/subjects/s-1/consent-commands", key: fixture.boundService, json: body)
            }
            let given = try await send(
                #"{"type":"give","purpose":"service-updates","channel":"email","legalBasis":"consent","noticeVersion":"n1","collectionPoint":"web","proofReference":"p-1"}"#
            )
            #expect(given.status == 201, "\(given.text)")
            let decision = try #require(given.json["decisionId"] as? String)
            let report = try await send(
                #"{"type":"record-propagation","purpose":"service-updates","channel":"email","system":"billing","decision":"\#(decision)","acknowledgement":"ok-1"}"#
            )
            #expect(report.status == 201 && report.json["decisionId"] == nil, "\(report.text)")
            let basis = try await send(
                #"{"type":"give","purpose":"service-updates","channel":"email","legalBasis":"whim","noticeVersion":"n1","collectionPoint":"web","proofReference":"p"}"#
            )
            #expect(basis.status == 400 && basis.json["field"] as? String == "body.legalBasis", "\(basis.text)")
            let purpose = try await send(
                #"{"type":"give","purpose":"gossip","channel":"email","legalBasis":"consent","noticeVersion":"n1","collectionPoint":"web","proofReference":"p"}"#
            )
            #expect(purpose.status == 400 && purpose.code == "unknown_purpose", "\(purpose.text)")
            let withdrawn = try await send(#"{"type":"withdraw","purpose":"service-updates","channel":"email","proofReference":"p-2"}"#)
            #expect(withdrawn.status == 201 && withdrawn.json["decisionId"] as? String != decision, "\(withdrawn.text)")
            let events = try await fixture.store.readStream(ConsentRegistry.streamName(subject: "s-1")).events
            #expect(events.map(\.type) == ["ConsentGiven", "ConsentPropagated", "ConsentWithdrawn"])
            #expect(events.allSatisfy { $0.metadata.sourceSystem == "erp" })
            try await fixture.catchUpProjections()
            let now = try await fixture.request(.GET, "/v1/subjects/s-1/consents", key: fixture.key(.analyst))
            #expect(
                (now.json["consents"] as? [[String: Any]])?.contains { $0["purpose"] as? String == "service-updates" && $0["status"] as? String == "withdrawn" }
                    == true, "\(now.text)")
        }
    }
}
