import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

/// Commands decided inside a caller's transaction, beside the caller's own writes: the way the
/// process manager claims a deadline, decides an escalation and marks the deadline fired at once.
@Suite("Commands inside a caller's transaction")
struct CommandsInTransactionTests {
    static let grant = ConsentRecord(
        scope: ConsentScope(purpose: "marketing", channel: "email"), legalBasis: .consent, noticeVersion: "privacy-2026-10", collectionPoint: "signup-web",
        proofReference: "form-1")

    /// A side table of the caller's, in the test's schema.
    static func createSideTable(_ store: EventStore) async throws {
        try await store.query("CREATE TABLE deadlines (id text PRIMARY KEY, fired boolean NOT NULL DEFAULT false)")
        try await store.query("INSERT INTO deadlines (id) VALUES ('d-1')")
    }

    static func fired(_ store: EventStore) async throws -> Bool {
        try await store.query("SELECT fired FROM deadlines WHERE id = 'd-1'").first!.decode(Bool.self, at: 0)
    }

    @Test("a journey command, a consent command and a side-table write commit together")
    func commitTogether() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let store = client.store
        try await Self.createSideTable(store)
        let consents = ConsentRegistry(client: client)
        let (journeyId, consentCommand) = (UUID(), UUID())

        let (started, given) = try await store.transaction { transaction in
            let started = try await client.send(startCommand("t-1"), to: "t-1", context: CommandContext(id: journeyId), in: transaction)
            let given = try await consents.record(.give(Self.grant), subject: "customer-7", context: CommandContext(id: consentCommand), in: transaction)
            try await transaction.execute("UPDATE deadlines SET fired = true WHERE id = 'd-1'")
            return (started, given)
        }
        #expect(started.types == ["JourneyStarted"] && !started.replayed)
        #expect(given.types == ["ConsentGiven"] && given.decisionId == given.events.first?.id)
        #expect(try await client.state(journey: "t-1").status == .active)
        #expect(try await consents.consents(of: "customer-7").answers[Self.grant.scope]?.status == .granted)
        #expect(try await Self.fired(store))
        // One transaction: every event has the same writer transaction.
        let writers = try await store.query(
            "SELECT count(DISTINCT tx_id) FROM events WHERE stream_name IN ('journey-t-1', 'consent-customer-7')")
        #expect(try writers.first!.decode(Int64.self, at: 0) == 1)

        // Sent again in a new transaction under the same ids: answered from the log, nothing written.
        let again = try await store.transaction { transaction in
            try await client.send(startCommand("t-1"), to: "t-1", context: CommandContext(id: journeyId), in: transaction)
        }
        #expect(again.replayed && again.events.map(\.id) == started.events.map(\.id))
        #expect(try await store.readStream("journey-t-1").events.count == 1)
    }

    @Test("when the caller's transaction fails, neither the commands' events nor the side-table write are stored")
    func rollBackTogether() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let store = client.store
        try await Self.createSideTable(store)
        struct CallerFailed: Error {}
        await #expect(throws: CallerFailed.self) {
            try await store.transaction { transaction in
                try await client.send(startCommand("t-2"), to: "t-2", in: transaction)
                try await ConsentRegistry(client: client).record(.give(Self.grant), subject: "customer-7", in: transaction)
                try await transaction.execute("UPDATE deadlines SET fired = true WHERE id = 'd-1'")
                throw CallerFailed()
            }
        }
        #expect(try await store.readStream("journey-t-2").events.isEmpty)
        #expect(try await store.readStream("consent-customer-7").events.isEmpty)
        #expect(try await Self.fired(store) == false)
        // Nothing of the rolled-back start remains: the journey starts afresh.
        let result = try await client.send(startCommand("t-2"), to: "t-2")
        #expect(result.types == ["JourneyStarted"] && result.streamVersion == 1)
    }

    @Test("a refusal inside the transaction throws the domain's rejection and the caller decides what commits")
    func refusalInside() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        try await Self.createSideTable(client.store)
        await #expect(throws: Rejection.self) {
            try await client.store.transaction { transaction in
                try await transaction.execute("UPDATE deadlines SET fired = true WHERE id = 'd-1'")
                try await client.send(.complete, to: "never-started", in: transaction)
            }
        }
        #expect(try await Self.fired(client.store) == false)
    }
}
