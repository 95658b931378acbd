import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

@Suite("Consent")
struct ConsentTests {
    static let email = ConsentScope(purpose: "marketing", channel: "email")

    static func record(_ scope: ConsentScope = email, notice: String = "privacy-2026-10", proof: String = "form-8812") -> ConsentRecord {
        ConsentRecord(scope: scope, legalBasis: .consent, noticeVersion: notice, collectionPoint: "signup-web", proofReference: proof)
    }

    @Test("give, refuse and withdraw per subject, purpose and channel, with the terms and proof of each answer")
    func answers() async throws {
        let client = try await freshClient()
        defer { Task { await client.store.close() } }
        let registry = ConsentRegistry(client: client)
        let sms = ConsentScope(purpose: "marketing", channel: "sms")
        try await registry.record(.give(Self.record()), subject: "s-1")
        try await registry.record(.refuse(Self.record(sms)), subject: "s-1")
        var state = try await registry.consents(of: "s-1")
        #expect(state.answers[Self.email]?.status == .granted)
        #expect(state.answers[sms]?.status == .refused)
        #expect(state.answers[Self.email]?.record?.proofReference == "form-8812")

        let withdrawal = CommandContext(commandId: UUID(), sourceSystem: "preference-centre")
        let withdrawn = try await registry.record(.withdraw(Self.email, proofReference: "click-77"), subject: "s-1", context: withdrawal)
        #expect(withdrawn.types == ["ConsentWithdrawn"])
        state = try await registry.consents(of: "s-1")
        #expect(state.answers[Self.email]?.status == .withdrawn)
        // A retry of the withdrawal returns what it wrote; a second withdrawal is refused.
        #expect(try await registry.record(.withdraw(Self.email, proofReference: "click-77"), subject: "s-1", context: withdrawal).replayed)
        do {
            try await registry.record(.withdraw(Self.email, proofReference: "click-78"), subject: "s-1")
            Issue.record("withdrew consent that was not given")
        } catch let rejection as Rejection {
            #expect(rejection.code == .consentNotGiven)
        }
        // Given again under a new notice: allowed; the same terms twice: refused as unchanged.
        try await registry.record(.give(Self.record(notice: "privacy-2026-11", proof: "form-9001")), subject: "s-1")
        await #expect(throws: Rejection.self) {
            try await registry.record(.give(Self.record(notice: "privacy-2026-11", proof: "form-9001")), subject: "s-1")
        }
        await #expect(throws: Rejection.self) { try await registry.record(.give(Self.record(proof: " ")), subject: "s-2") }
        #expect(try await client.store.streamVersion(ConsentRegistry.streamName(subject: "s-1")) == 4)
        #expect(try await client.store.streamVersion(ConsentRegistry.streamName(subject: "s-2")) == 0)
    }
}
