import Foundation
import Testing
import WaymarkErrors
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

/// The store's errors under the contract: its own SQLSTATEs become its codes, and event data that
/// holds personal data is never quoted.
@Suite struct StoreErrorContractTests {
    @Test("event data PostgreSQL refuses is named by event, never quoted")
    func invalidDataNotQuoted() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let email = "ana.silva@example.com"
        for data in [#"{"email": "\#(email)", "#, #"{"email": "\#(email)\u0000"}"#] {
            let event = EventData(type: "ContactChanged", data: data)
            await #expect {
                try await store.append(to: "customer-c-1", events: [event])
            } throws: { error in
                guard let error = error as? EventStoreError, error.code == .invalidEventData else { return false }
                let texts = [error.description, error.message, ErrorReport(error).message]
                return texts.allSatisfy { !$0.contains(email) && !$0.contains("ana.silva") } && error.message.contains("\(event.id)")
            }
        }
    }

    @Test("the store's functions' SQLSTATEs arrive as the store's codes with their kinds")
    func storeCodes() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "journey-j-1", expected: .noStream, events: [EventData(type: "Started", data: "{}")])
        await #expect {
            try await store.append(to: "journey-j-1", expected: .noStream, events: [EventData(type: "Started", data: "{}")])
        } throws: { error in
            guard let error = error as? WrongExpectedVersionError else { return false }
            return error.code == .wrongExpectedVersion && error.kind == .conflict && "\(error)".hasPrefix("wrong_expected_version: ")
        }
        let first = EventData(type: "A", data: "{}")
        try await store.append(to: "journey-j-2", events: [first])
        await #expect {
            try await store.append(to: "journey-j-3", events: [EventData(id: first.id, type: "A", data: "{}")])
        } throws: { ($0 as? EventStoreError)?.code == .idempotencyConflict && ErrorReport($0).kind == .conflict }
    }
}
