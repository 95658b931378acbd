import Foundation
import NIOHTTP1
import Testing
import WaymarkDomain
import WaymarkEventStore
import WaymarkServer
import WaymarkTesting

@Suite("HTTP API: journey commands", .scaledTimeLimit(minutes: 3))
struct CommandRoutesTests {
    static let start =
        #"{"type":"start","customerId":"c-1","journeyType":"order-to-cash","tier":"strategic","commandId":"6f1c3a52-95c8-4e44-9b7a-0a4b1f1c2d3e"}"#

    @Test("a service starts a journey: 201 with the events and positions; sent again with its id: 200, replayed, nothing new")
    func startIdempotent() async throws {
        try await ServerFixture.run { fixture in
            let first = try await fixture.request(.POST, "/v1/journeys/j-1/commands", key: fixture.key(.service), json: Self.start)
            #expect(first.status == 201, "\(first.text)")
            #expect(first.json["commandId"] as? String == "6F1C3A52-95C8-4E44-9B7A-0A4B1F1C2D3E" && first.json["replayed"] as? Bool == false)
            let events = try #require(first.json["events"] as? [[String: Any]])
            #expect(events.map { $0["type"] as? String } == ["JourneyStarted"])
            #expect(events.first?["stream"] as? String == "journey-j-1" && events.first?["streamVersion"] as? Int == 1)
            let again = try await fixture.request(.POST, "/v1/journeys/j-1/commands", key: fixture.key(.service), json: Self.start)
            #expect(again.status == 200 && again.json["replayed"] as? Bool == true, "\(again.text)")
            #expect((again.json["events"] as? [[String: Any]])?.first?["id"] as? String == events.first?["id"] as? String)
            #expect(try await fixture.store.readStream("journey-j-1").events.count == 1)
            // The actor defaults to the key; the source system is what the caller said (an unbound key).
            let metadata = try await fixture.store.readStream("journey-j-1").events[0].metadata
            #expect(metadata.actor?.isEmpty == false && metadata.causationId != nil)
        }
    }

    @Test("the domain's rejection comes back as a problem with its code and its kind's status; nothing is stored")
    func rejection() async throws {
        try await ServerFixture.run { fixture in
            _ = try await fixture.request(.POST, "/v1/journeys/j-2/commands", key: fixture.key(.service), json: Self.start)
            let reply = try await fixture.request(
                .POST, "/v1/journeys/j-2/commands", key: fixture.key(.service), json: #"{"type":"move-to-stage","stage":"nowhere"}"#)
            // A rejection answers with its kind's status: a stage the definition lacks is bad input.
            #expect(reply.status == 400 && reply.code == "unknown_stage", "\(reply.text)")
            #expect(reply.json["type"] as? String == "urn:waymark:error:unknown_stage" && reply.json["instance"] as? String == "/v1/journeys/j-2/commands")
            #expect((reply.json["detail"] as? String)?.contains("nowhere") == true)
            let notStarted = try await fixture.request(.POST, "/v1/journeys/j-none/commands", key: fixture.key(.service), json: #"{"type":"complete"}"#)
            #expect(notStarted.status == 404 && notStarted.code == "journey_not_started", "\(notStarted.text)")
            let refused = try await fixture.request(
                .POST, "/v1/journeys/j-2/commands", key: fixture.key(.service), json: #"{"type":"reassign-owner","to":"x"}"#)
            _ = refused
            let again = try await fixture.request(
                .POST, "/v1/journeys/j-2/commands", key: fixture.key(.service), json: #"{"type":"reassign-owner","to":"x"}"#)
            #expect(again.status == 422 && again.code == "same_owner", "\(again.text)")
            #expect(try await fixture.store.readStream("journey-j-2").events.count == 2)
            #expect(try await fixture.store.readStream("journey-j-none").events.isEmpty)
        }
    }

    @Test(
        "a body the API cannot take is refused with the field at fault, and nothing is stored",
        arguments: [
            (#"{"type":"move-to-stage","stag":"fulfilment"}"#, 400, "unknown_field", "body.stag"),
            (#"{"type":"move-to-stage"}"#, 400, "missing_field", "body.stage"),
            (#"{"type":"move-to-stage","stage":7}"#, 400, "wrong_type", "body.stage"),
            (#"{"type":"record-feedback","kind":"csat","score":4.5,"channel":"web"}"#, 400, "wrong_type", "body.score"),
            (#"{"type":"record-feedback","kind":"stars","score":4,"channel":"web"}"#, 400, "invalid_value", "body.kind"),
            (#"{"type":"teleport"}"#, 400, "invalid_value", "body.type"),
            (#"{"type":"complete","commandId":"not-a-uuid"}"#, 400, "invalid_value", "body.commandId"),
            (#"{"type":"complete","occurredAt":"yesterday"}"#, 400, "invalid_value", "body.occurredAt"),
            // Rolled over to 2 March by a lenient parser: refused.
            (#"{"type":"complete","occurredAt":"2026-02-30T08:00:00Z"}"#, 400, "invalid_value", "body.occurredAt"),
            (#"{"type":"request-handoff","toStage":"x","facts":{"a":1}}"#, 400, "wrong_type", "body.facts.a"),
            (#"{"type":"request-handoff","toStage":"x","facts":{"a":null}}"#, 400, "wrong_type", "body.facts.a"),
            (#"{"type":"cancel","reason":null}"#, 400, "wrong_type", "body.reason"),
            (#"{"type":"complete","actor":null}"#, 400, "wrong_type", "body.actor"),
            (#"["complete"]"#, 400, "wrong_type", "body"),
            (#"{"type":"complete""#, 400, "invalid_body", "body"),
            ("", 400, "invalid_body", "body"),
        ])
    func refusedBodies(body: String, status: Int, code: String, field: String) async throws {
        try await ServerFixture.run { fixture in
            _ = try await fixture.request(.POST, "/v1/journeys/j-3/commands", key: fixture.key(.service), json: Self.start)
            let reply = try await fixture.request(.POST, "/v1/journeys/j-3/commands", key: fixture.key(.service), json: body)
            #expect(reply.status == status && reply.code == code, "\(body) → \(reply.status) \(reply.text)")
            #expect(reply.json["field"] as? String == field, "\(body) → \(reply.text)")
            #expect(try await fixture.store.readStream("journey-j-3").events.count == 1)
        }
    }

    @Test("not JSON, too large, or under a path no route has: 415, 413 and 404 as problems")
    func transportRefusals() async throws {
        try await ServerFixture.run { fixture in
            let text = try await fixture.request(
                .POST, "/v1/journeys/j-4/commands", key: fixture.key(.service), json: Self.start, contentType: "text/plain")
            #expect(text.status == 415 && text.code == "unsupported_media_type", "\(text.text)")
            let padding = String(repeating: "x", count: ApiServer.maxBodySize)
            let large = try await fixture.request(
                .POST, "/v1/journeys/j-4/commands", key: fixture.key(.service), json: #"{"type":"cancel","reason":"\#(padding)"}"#)
            #expect(large.status == 413 && large.code == "body_too_large", "\(large.status) \(large.text.prefix(300))")
            let nowhere = try await fixture.request(.GET, "/v1/nowhere", key: fixture.key(.service))
            #expect(nowhere.status == 404 && nowhere.code == "not_found", "\(nowhere.text)")
            #expect(try await fixture.store.readStream("journey-j-4").events.isEmpty)
        }
    }

    @Test("a W3C traceparent is kept in the events' metadata beside correlation and causation ids and comes back; a malformed one is ignored")
    func traceparent() async throws {
        try await ServerFixture.run { fixture in
            let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let started = try await fixture.request(
                .POST, "/v1/journeys/j-t/commands", key: fixture.key(.service), json: Self.start, headers: [("traceparent", trace)])
            #expect(started.status == 201 && started.headers.first(name: "traceparent") == trace, "\(started.headers)")
            let metadata = try await fixture.store.readStream("journey-j-t").events[0].metadata
            #expect(metadata.extra["traceparent"] == trace && metadata.correlationId == "j-t" && metadata.causationId != nil)
            let appended = try await fixture.request(
                .POST, "/v1/streams/shipment-t/events", key: fixture.key(.service), json: #"{"events":[{"type":"ShipmentDelayed","data":{}}]}"#,
                headers: [("traceparent", trace)])
            #expect(appended.status == 201 && appended.headers.first(name: "traceparent") == trace)
            #expect(try await fixture.store.readStream("shipment-t").events[0].metadata.extra["traceparent"] == trace)
            for malformed in ["01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "nonsense"]
            {
                let reply = try await fixture.request(
                    .POST, "/v1/streams/shipment-u/events", key: fixture.key(.service), json: #"{"events":[{"type":"ShipmentDelayed","data":{}}]}"#,
                    headers: [("traceparent", malformed)])
                #expect(reply.status == 201 && reply.headers.first(name: "traceparent") == nil, "\(malformed)")
            }
            #expect(try await fixture.store.readStream("shipment-u").events.allSatisfy { $0.metadata.extra["traceparent"] == nil })
        }
    }

    @Test("a key bound to a source system stamps it into the events; claiming another system is refused")
    func boundSourceSystem() async throws {
        try await ServerFixture.run { fixture in
            let claimed = try await fixture.request(
                .POST, "/v1/journeys/j-5/commands", key: fixture.boundService,
                json: #"{"type":"start","customerId":"c-5","journeyType":"order-to-cash","tier":"standard","sourceSystem":"crm"}"#)
            #expect(claimed.status == 403 && claimed.code == "source_system_mismatch", "\(claimed.text)")
            let honest = try await fixture.request(
                .POST, "/v1/journeys/j-5/commands", key: fixture.boundService,
                json: #"{"type":"start","customerId":"c-5","journeyType":"order-to-cash","tier":"standard","actor":"erp-sync"}"#)
            #expect(honest.status == 201, "\(honest.text)")
            let metadata = try await fixture.store.readStream("journey-j-5").events[0].metadata
            #expect(metadata.sourceSystem == "erp" && metadata.actor == "erp-sync")
        }
    }
}
