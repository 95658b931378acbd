import Foundation
import Testing
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

@Suite("Errors")
struct ErrorTests {
    @Test("a change to an event is the store's typed error, from a transaction or a statement of its own")
    func immutableIsTyped() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        try await store.append(to: "consent-1", events: [event("ConsentGranted")])
        await #expect {
            try await store.query("DELETE FROM events")
        } throws: { ($0 as? EventStoreError)?.code == .immutable }
        await #expect {
            try await store.transaction { try await $0.execute("UPDATE events SET data = '{}'") }
        } throws: { ($0 as? EventStoreError)?.code == .immutable }
        #expect(try await store.readStream("consent-1").events.count == 1)
    }

    @Test("descriptions say what happened without the values; debugDescription has them")
    func descriptionsOmitValues() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let secret = "ana.silva@example.com"
        // A data exception quotes the value in its message.
        do {
            try await store.query("SELECT \(secret)::uuid")
            Issue.record("an invalid uuid must fail")
        } catch let error as PostgresError {
            #expect(error.code == SQLState.invalidTextRepresentation)
            #expect(!error.description.contains(secret), "\(error.description)")
            #expect(error.debugDescription.contains(secret))
        }
        // A unique violation names the key's value in its detail.
        try await store.query("CREATE TABLE contacts (email text PRIMARY KEY)")
        try await store.query("INSERT INTO contacts VALUES (\(secret))")
        do {
            try await store.query("INSERT INTO contacts VALUES (\(secret))")
            Issue.record("a duplicate must fail")
        } catch let error as PostgresError {
            #expect(error.code == SQLState.uniqueViolation)
            #expect(!error.description.contains(secret), "\(error.description)")
            #expect(error.description.contains("contacts_pkey"))
            #expect(error.debugDescription.contains(secret))
        }
        // A value that does not decode is not echoed either.
        do {
            _ = try await store.query("SELECT \(secret)::text")[0].decode(Int64.self, at: 0)
            Issue.record("text must not decode as an integer")
        } catch let error as PostgresError {
            #expect(error.code == PostgresError.decodingFailure)
            #expect(!error.description.contains(secret), "\(error.description)")
            #expect(error.debugDescription.contains(secret))
        }
    }
}
