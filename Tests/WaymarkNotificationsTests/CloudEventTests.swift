import Foundation
import Testing
import WaymarkNotifications

@Suite struct CloudEventTests {
    static let payload = NotificationPayload(
        recipient: "customer", channel: "webhook", template: "shipment-delay-apology", locale: "de", purpose: "service-messages", message: "Guten Tag")

    @Test("a notification's CloudEvent carries the required attributes, and the same event is the same bytes") func carriesTheRequiredAndOptionalAttributes()
        throws
    {
        let event = CloudEvent.notification(
            id: "ntf_01", source: "/waymark/demo", journeyID: "journey-42", requestedAt: Date(timeIntervalSince1970: 1_765_000_000.25), payload: Self.payload)
        let body = try event.encoded()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        // CloudEvents 1.0 requires id, source, specversion and type.
        #expect(object["specversion"] as? String == "1.0")
        #expect(object["id"] as? String == "ntf_01")
        #expect(object["source"] as? String == "/waymark/demo")
        #expect(object["type"] as? String == "io.waymark.notification.shipment-delay-apology")
        #expect(object["subject"] as? String == "journey-42")
        #expect(object["time"] as? String == "2025-12-06T05:46:40.250Z")
        #expect(object["datacontenttype"] as? String == "application/json")
        let data = try #require(object["data"] as? [String: Any])
        #expect(data["template"] as? String == "shipment-delay-apology")
        #expect(data["message"] as? String == "Guten Tag")
        #expect(Set(object.keys) == ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"])
        // The same event always gives the same bytes: a retry's signature covers an identical body.
        #expect(try event.encoded() == body)
        #expect(try JSONDecoder().decode(CloudEvent<NotificationPayload>.self, from: Data(body)) == event)
        #expect(CloudEvent<NotificationPayload>.mediaType == "application/cloudevents+json")
    }
}
