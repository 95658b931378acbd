import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

/// The propagation state of the current decision: the last report of each listed system counts,
/// and nothing else shows beside it.
@Suite("Consent propagation state")
struct ConsentPropagationStateTests {
    static let marketingEmail = ConsentScope(purpose: "marketing", channel: "email")

    @Test("a failure after an acknowledgement replaces it; a report from a system the purpose does not list stays out of the view")
    func lastReportCounts() async throws {
        let fixture = try await Fixture { [ConsentProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        let consents = ConsentRegistry(client: fixture.client)
        let record = ConsentRecord(
            scope: Self.marketingEmail, legalBasis: .consent, noticeVersion: "privacy-2026.1", collectionPoint: "signup-form", proofReference: "form-1")
        let given = try await consents.record(.give(record), subject: "s-1", context: on("2026-09-02T10:00:00Z"))
        let decision = given.events[0].id
        try await consents.record(
            .recordPropagation(.init(scope: Self.marketingEmail, system: "crm", decision: decision, acknowledgement: "CRM-1")), subject: "s-1",
            context: on("2026-09-02T10:01:00Z"))
        try await consents.record(
            .recordPropagation(.init(scope: Self.marketingEmail, system: "crm", decision: decision, error: "record locked")), subject: "s-1",
            context: on("2026-09-02T10:02:00Z"))
        // A client under an older configuration let billing report on marketing consent; the log
        // keeps it, the current decision's state does not show it.
        let loaded = try DefinitionLoader.load(directory: configDirectory)
        var older = loaded.consentPurposes
        older["marketing"]?.downstream.append("billing")
        let olderClient = WaymarkClient(
            store: fixture.store,
            catalog: JourneyCatalog(JourneyConfiguration(calendars: loaded.calendars, definitions: loaded.definitions, consentPurposes: older)),
            logger: TestDatabase.quietLogger)
        try await ConsentRegistry(client: olderClient).record(
            .recordPropagation(.init(scope: Self.marketingEmail, system: "billing", decision: decision, acknowledgement: "B-1")), subject: "s-1",
            context: on("2026-09-02T10:03:00Z"))
        #expect(try await fixture.runUntilCaughtUp("consent"))

        let rows = try await fixture.view(
            "consent_propagation", "system, state, acknowledgement, error", order: "system")
        #expect(rows == [["crm", "failed", nil, "record locked"], ["marketing-automation", "pending", nil, nil]])
        let summary = try await fixture.view("consents", "propagation::text", order: "purpose, channel")
        #expect(summary.allSatisfy { !($0[0] ?? "").contains("billing") })
    }
}
