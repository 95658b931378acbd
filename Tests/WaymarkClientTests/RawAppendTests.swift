import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

@Suite("Raw appends through the client")
struct RawAppendTests {
    @Test("a raw append of a domain event type on a domain stream is refused and stores nothing; integration events go in")
    func domainTypesAreRefused() async throws {
        let client = try await freshClient()
        let store = client.store
        defer { Task { await store.close() } }
        let refused: [(String, String)] = [
            ("journey-42", "JourneyStarted"), ("journey-42", "HandoffAccepted"), ("customer-7", "TierChanged"), ("consent-7", "ConsentGiven"),
            ("definition-renewal", "DefinitionVersionRecorded"),
        ]
        for (stream, type) in refused {
            do {
                try await client.append(
                    toStream: stream, events: [EventData(type: "ShipmentDelayed", data: "{}"), EventData(type: type, data: #"{"customer":"customer-7"}"#)])
                Issue.record("\(type) went onto \(stream)")
            } catch let error as ClientError {
                #expect(error.code == .domainEventType && error.message.contains(type) && error.message.contains(stream), "\(error)")
            }
        }
        for (stream, _) in refused { #expect(try await store.readStream(stream).events.isEmpty) }
        // Integration events, and any type on a stream of no domain category.
        try await client.append(toStream: "journey-42", events: [EventData(type: "ShipmentDelayed", data: #"{"days":2}"#)])
        try await client.append(toStream: "orders-42", events: [EventData(type: "JourneyStarted", data: "{}")])
        // Stream reads see every committed event (the global log waits behind other tests' open transactions).
        #expect(try await store.readStream("journey-42").events.map(\.type) == ["ShipmentDelayed"])
        #expect(try await store.readStream("orders-42").events.map(\.type) == ["JourneyStarted"])
    }
}
