import Foundation
import NIOHTTP1
import Testing
import WaymarkEventStore
import WaymarkServer
import WaymarkTesting

@Suite("HTTP API: raw events", .scaledTimeLimit(minutes: 3))
struct StreamRoutesTests {
    static func delayed(_ hours: Int, id: String? = nil) -> String {
        let idField = id.map { #""id":"\#($0)","# } ?? ""
        return
            #"{"events":[{\#(idField)"type":"ShipmentDelayed","data":{"journeyId":"j-1","delayHours":\#(hours),"note":"käse \"quoted\""},"metadata":{"correlationId":"j-1","occurredAt":"2026-12-06T08:00:00.5Z","extra":{"batch":"7"}}}]}"#
    }

    @Test("appends with the expected version in a header; a mismatch is a 409 naming expected and actual; an event id makes a retry safe")
    func appendWithExpectedVersion() async throws {
        try await ServerFixture.run { fixture in
            let path = "/v1/streams/shipment-SO-1/events"
            let id = "0b9a6c1e-2f4d-4e5a-8b7c-6d5e4f3a2b1c"
            let first = try await fixture.request(
                .POST, path, key: fixture.boundService, json: Self.delayed(30, id: id), headers: [("Waymark-Expected-Version", "no-stream")])
            #expect(first.status == 201, "\(first.text)")
            #expect((first.json["events"] as? [[String: Any]])?.first?["streamVersion"] as? Int == 1)
            let retried = try await fixture.request(.POST, path, key: fixture.boundService, json: Self.delayed(30, id: id))
            #expect(retried.status == 200 && retried.json["replayed"] as? Bool == true, "\(retried.text)")
            let stale = try await fixture.request(
                .POST, path, key: fixture.boundService, json: Self.delayed(40), headers: [("Waymark-Expected-Version", "no-stream")])
            #expect(stale.status == 409 && stale.code == "wrong_expected_version", "\(stale.text)")
            #expect(
                stale.json["expectedVersion"] as? String != nil && stale.json["actualVersion"] as? Int == 1
                    && stale.json["stream"] as? String == "shipment-SO-1")
            let exact = try await fixture.request(
                .POST, path, key: fixture.boundService, json: Self.delayed(50), headers: [("Waymark-Expected-Version", "1")])
            #expect(exact.status == 201, "\(exact.text)")
            let garbled = try await fixture.request(
                .POST, path, key: fixture.boundService, json: Self.delayed(60), headers: [("Waymark-Expected-Version", "latest")])
            #expect(garbled.status == 400 && garbled.json["field"] as? String == "header.Waymark-Expected-Version", "\(garbled.text)")
            let events = try await fixture.store.readStream("shipment-SO-1").events
            #expect(events.count == 2 && events.allSatisfy { $0.metadata.sourceSystem == "erp" })
            #expect(events[0].metadata.extra["batch"] == "7" && events[0].metadata.correlationId == "j-1")
            #expect(events[0].occurredAt == Date(timeIntervalSince1970: 1_796_544_000.5))
        }
    }

    @Test("the domain's own event types on its streams are refused; an event without data or type names the field")
    func refusedAppends() async throws {
        try await ServerFixture.run { fixture in
            let domain = try await fixture.request(
                .POST, "/v1/streams/journey-j-9/events", key: fixture.key(.service),
                json: #"{"events":[{"type":"JourneyCompleted","data":{}}]}"#)
            #expect(domain.status == 400 && domain.code == "domain_event_type", "\(domain.text)")
            let noData = try await fixture.request(
                .POST, "/v1/streams/shipment-x/events", key: fixture.key(.service), json: #"{"events":[{"type":"ShipmentDelayed"}]}"#)
            #expect(noData.status == 400 && noData.json["field"] as? String == "body.events[0].data", "\(noData.text)")
            let listData = try await fixture.request(
                .POST, "/v1/streams/shipment-x/events", key: fixture.key(.service), json: #"{"events":[{"type":"A","data":[1]}]}"#)
            #expect(listData.status == 400 && listData.code == "wrong_type", "\(listData.text)")
            let none = try await fixture.request(.POST, "/v1/streams/shipment-x/events", key: fixture.key(.service), json: #"{"events":[]}"#)
            #expect(none.status == 400 && none.code == "invalid_value", "\(none.text)")
            let metadataTypo = try await fixture.request(
                .POST, "/v1/streams/shipment-x/events", key: fixture.key(.service),
                json: #"{"events":[{"type":"A","data":{},"metadata":{"corelationId":"j"}}]}"#)
            #expect(metadataTypo.status == 400 && metadataTypo.json["field"] as? String == "body.events[0].metadata.corelationId", "\(metadataTypo.text)")
            let huge = try await fixture.request(
                .POST, "/v1/streams/shipment-x/events", key: fixture.key(.service), json: #"{"events":[{"type":"A","data":{"n":18446744073709551615}}]}"#)
            #expect(huge.status == 400 && huge.json["field"] as? String == "body.events[0].data", "\(huge.text)")
            let bound = try await fixture.request(
                .POST, "/v1/streams/shipment-x/events", key: fixture.boundService,
                json: #"{"events":[{"type":"A","data":{},"metadata":{"sourceSystem":"crm"}}]}"#)
            #expect(bound.status == 403 && bound.json["field"] as? String == "body.events[0].metadata.sourceSystem", "\(bound.text)")
            #expect(try await fixture.store.readStream("journey-j-9").events.isEmpty)
            #expect(try await fixture.store.readStream("shipment-x").events.isEmpty)
        }
    }

    @Test("a service key reads back the streams it wrote (appends and commands), not another's; it cannot forge the writer")
    func serviceReadsItsOwnStreams() async throws {
        try await ServerFixture.run { fixture in
            let (_, other) = try await fixture.keyStore.create(role: .service, sourceSystem: nil, label: "other", expiresAt: nil, by: "test")
            let mine = try await fixture.request(.POST, "/v1/streams/shipment-own/events", key: fixture.key(.service), json: Self.delayed(1))
            #expect(mine.status == 201, "\(mine.text)")
            let stored = try await fixture.store.readStream("shipment-own").events
            #expect(stored[0].metadata.extra[ApiServer.writerKey] != nil && stored[0].metadata.extra["batch"] == "7")
            #expect(try await fixture.request(.GET, "/v1/streams/shipment-own/events", key: fixture.key(.service)).status == 200)
            let foreign = try await fixture.request(.GET, "/v1/streams/shipment-own/events", key: other)
            #expect(foreign.status == 403 && foreign.code == "forbidden", "\(foreign.text)")
            // A stream that does not exist is refused the same way: its existence is not told.
            #expect(try await fixture.request(.GET, "/v1/streams/shipment-none/events", key: other).status == 403)
            // The operator reads every stream.
            #expect(try await fixture.request(.GET, "/v1/streams/shipment-own/events", key: fixture.key(.operator)).status == 200)

            // A journey started by a command is the commanding key's to read.
            let started = try await fixture.request(
                .POST, "/v1/journeys/j-own/commands", key: other,
                json: #"{"type":"start","customerId":"c-own","journeyType":"order-to-cash","tier":"standard"}"#)
            #expect(started.status == 201, "\(started.text)")
            #expect(try await fixture.request(.GET, "/v1/streams/journey-j-own/events", key: other).status == 200)
            #expect(try await fixture.request(.GET, "/v1/streams/journey-j-own/events", key: fixture.key(.service)).status == 403)

            // A key bound to a source system reads what that system wrote, by any of its keys.
            let (_, erp2) = try await fixture.keyStore.create(role: .service, sourceSystem: "erp", label: "erp 2", expiresAt: nil, by: "test")
            #expect(try await fixture.request(.POST, "/v1/streams/shipment-erp/events", key: fixture.boundService, json: Self.delayed(2)).status == 201)
            #expect(try await fixture.request(.GET, "/v1/streams/shipment-erp/events", key: erp2).status == 200)

            let forged = try await fixture.request(
                .POST, "/v1/streams/shipment-own/events", key: other,
                json: #"{"events":[{"type":"ShipmentDelayed","data":{},"metadata":{"extra":{"waymark.key":"someone"}}}]}"#)
            #expect(forged.status == 400 && forged.json["field"] as? String == "body.events[0].metadata.extra.waymark.key", "\(forged.text)")
            #expect(try await fixture.store.readStream("shipment-own").events.count == 1)
        }
    }

    @Test("a path parameter's length is counted in code points, as the contract's maxLength is")
    func lengthInCodePoints() async throws {
        try await ServerFixture.run { fixture in
            // 100 characters as a person sees them, 300 code points (each letter with two combining marks).
            let long = String(repeating: "e\u{0301}\u{0323}", count: 100)
            let encoded = long.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let reply = try await fixture.request(.POST, "/v1/streams/shipment-\(encoded)/events", key: fixture.key(.service), json: Self.delayed(1))
            #expect(reply.status == 400 && reply.json["field"] as? String == "path.stream", "\(reply.text)")
        }
    }

    @Test("a path parameter with a control character (C0, DEL or C1) is refused naming it; other characters beyond ASCII are kept")
    func controlCharactersInPaths() async throws {
        try await ServerFixture.run { fixture in
            for control in ["%00", "%1F", "%7F", "%C2%80", "%C2%85", "%C2%9F"] {
                let reply = try await fixture.request(.POST, "/v1/streams/shipment-a\(control)b/events", key: fixture.key(.service), json: Self.delayed(1))
                #expect(reply.status == 400 && reply.json["field"] as? String == "path.stream", "\(control): \(reply.text)")
            }
            // ¡ (U+00A1, just past the C1 block) and é are not controls.
            for (encoded, name) in [("a%C2%A1b", "shipment-a\u{A1}b"), ("caf%C3%A9", "shipment-caf\u{E9}")] {
                let reply = try await fixture.request(.POST, "/v1/streams/shipment-\(encoded)/events", key: fixture.key(.service), json: Self.delayed(1))
                #expect(reply.status == 201, "\(encoded): \(reply.text)")
                #expect(try await fixture.store.readStream(name).events.count == 1)
            }
        }
    }

    @Test("a stream, the log and a category read in pages; each page says where the next begins")
    func pages() async throws {
        try await ServerFixture.run { fixture in
            for hours in 1...5 {
                _ = try await fixture.request(.POST, "/v1/streams/shipment-SO-2/events", key: fixture.key(.service), json: Self.delayed(hours))
            }
            _ = try await fixture.request(
                .POST, "/v1/streams/invoice-7/events", key: fixture.key(.service), json: #"{"events":[{"type":"InvoiceSent","data":{"amount":12.5}}]}"#)
            let first = try await fixture.request(.GET, "/v1/streams/shipment-SO-2/events?limit=2", key: fixture.key(.operator))
            #expect(first.status == 200, "\(first.text)")
            let events = try #require(first.json["events"] as? [[String: Any]])
            #expect(events.map { $0["streamVersion"] as? Int } == [1, 2] && first.json["next"] as? Int == 3)
            let data = try #require(events.first?["data"] as? [String: Any])
            #expect(data["note"] as? String == "käse \"quoted\"" && data["delayHours"] as? Int == 1)
            #expect((events.first?["metadata"] as? [String: Any])?["occurredAt"] as? String == "2026-12-06T08:00:00.500000Z")
            let last = try await fixture.request(.GET, "/v1/streams/shipment-SO-2/events?from=5", key: fixture.key(.operator))
            #expect((last.json["events"] as? [[String: Any]])?.count == 1 && last.json["next"] == nil)

            // Reads stop below the cluster's oldest open writer: another test's transaction can
            // hold the newest events back for a moment.
            let visible = try await eventually(timeout: .seconds(60)) {
                let log = try await fixture.request(.GET, "/v1/events?limit=1000", key: fixture.key(.operator))
                return (log.json["events"] as? [[String: Any]])?.count == 6
            }
            #expect(visible)
            var seen: [String] = []
            var after = "0:0"
            for _ in 0..<10 {
                let page = try await fixture.request(.GET, "/v1/categories/shipment/events?after=\(after)&limit=2", key: fixture.key(.operator))
                seen += (page.json["events"] as? [[String: Any]] ?? []).compactMap { $0["stream"] as? String }
                after = try #require(page.json["next"] as? String)
                if page.json["isEnd"] as? Bool == true { break }
            }
            #expect(seen == Array(repeating: "shipment-SO-2", count: 5))
            let log = try await fixture.request(.GET, "/v1/events?limit=1000", key: fixture.key(.operator))
            #expect((log.json["events"] as? [[String: Any]])?.count == 6)

            for (query, field) in [("limit=0", "query.limit"), ("limit=1001", "query.limit"), ("after=12", "query.after"), ("limit=ten", "query.limit")] {
                let reply = try await fixture.request(.GET, "/v1/events?\(query)", key: fixture.key(.operator))
                #expect(reply.status == 400 && reply.json["field"] as? String == field, "\(query): \(reply.text)")
            }
        }
    }
}
