import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

@Suite("Consent projection")
struct ConsentProjectionTests {
    static let marketingEmail = ConsentScope(purpose: "marketing", channel: "email")

    static func record(_ scope: ConsentScope, expires: Date? = nil) -> ConsentRecord {
        ConsentRecord(
            scope: scope, legalBasis: .consent, noticeVersion: "privacy-2026.1", collectionPoint: "signup-form", proofReference: "form-1",
            expiresAt: expires)
    }

    @Test("consent given, partly propagated, withdrawn, then propagated: status, proof, per-system state, not asked and expired, and as-of reads")
    func withdrawnThenPropagated() async throws {
        let fixture = try await Fixture { [ConsentProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        let directory = CustomerDirectory(client: fixture.client, tiers: fixture.client.catalog.tiers)
        let consents = ConsentRegistry(client: fixture.client)
        try await directory.register(customerId: "s-1", name: PersonalData("Ada"), tier: "standard", context: on("2026-09-01T09:00:00Z"))
        try await directory.register(customerId: "s-2", name: PersonalData("Bo"), tier: "standard", context: on("2026-09-01T09:00:00Z"))
        let given = try await consents.record(.give(Self.record(Self.marketingEmail)), subject: "s-1", context: on("2026-09-02T10:00:00Z"))
        let givenId = given.events[0].id
        try await consents.record(
            .recordPropagation(ConsentPropagation(scope: Self.marketingEmail, system: "marketing-automation", decision: givenId, acknowledgement: "MA-17")),
            subject: "s-1", context: on("2026-09-02T10:05:00Z"))
        try await consents.record(
            .recordPropagation(ConsentPropagation(scope: Self.marketingEmail, system: "crm", decision: givenId, error: "CRM timed out")), subject: "s-1",
            context: on("2026-09-02T10:06:00Z"))
        let withdrawn = try await consents.record(
            .withdraw(Self.marketingEmail, proofReference: "unsubscribe-link"), subject: "s-1", context: on("2026-10-01T08:00:00Z"))
        let withdrawnId = withdrawn.events[0].id
        // The CRM's late report on the grant does not mark the withdrawal applied there.
        try await consents.record(
            .recordPropagation(ConsentPropagation(scope: Self.marketingEmail, system: "crm", decision: givenId, acknowledgement: "CRM-3")), subject: "s-1",
            context: on("2026-10-01T08:01:00Z"))
        try await consents.record(
            .recordPropagation(
                ConsentPropagation(scope: Self.marketingEmail, system: "marketing-automation", decision: withdrawnId, acknowledgement: "MA-18")),
            subject: "s-1", context: on("2026-10-01T08:02:00Z"))
        let research = try await consents.record(
            .give(Self.record(ConsentScope(purpose: "product-research", channel: "email"), expires: utc("2026-10-15T00:00:00Z"))), subject: "s-1",
            context: on("2026-09-03T10:00:00Z"))
        let refused = try await consents.record(
            .refuse(Self.record(ConsentScope(purpose: "service-updates", channel: "sms"))), subject: "s-1", context: on("2026-09-03T11:00:00Z"))
        // A question consent.yaml does not list (any more: a client under an older configuration
        // asked it) still gets its row.
        let loaded = try DefinitionLoader.load(directory: configDirectory)
        var older = loaded.consentPurposes
        older["surveys"] = ConsentPurpose(name: "surveys", channels: ["email"], downstream: [])
        let olderClient = WaymarkClient(
            store: fixture.store,
            catalog: JourneyCatalog(JourneyConfiguration(calendars: loaded.calendars, definitions: loaded.definitions, consentPurposes: older)),
            logger: TestDatabase.quietLogger)
        let surveys = try await ConsentRegistry(client: olderClient).record(
            .give(Self.record(ConsentScope(purpose: "surveys", channel: "email"))), subject: "s-2", context: on("2026-09-04T10:00:00Z"))
        let id = { (result: ConsentResult) in result.decisionId!.uuidString.lowercased() }
        try await fixture.runUntilCaughtUp("consent")

        let rows = try await fixture.view(
            "consents",
            "subject_id, purpose, channel, status, proof_reference, proof_event_id::text, propagation->'crm'->>'state', propagation->'marketing-automation'->>'state'",
            order: "subject_id, purpose, channel")
        let expected: [[String?]] = [
            ["s-1", "marketing", "email", "withdrawn", "unsubscribe-link", id(withdrawn), "pending", "applied"],
            ["s-1", "marketing", "phone", "not asked", nil, nil, nil, nil],
            ["s-1", "marketing", "sms", "not asked", nil, nil, nil, nil],
            ["s-1", "product-research", "email", "expired", "form-1", id(research), "pending", nil],
            ["s-1", "service-updates", "email", "not asked", nil, nil, nil, nil],
            ["s-1", "service-updates", "sms", "refused", "form-1", id(refused), nil, nil],
            ["s-1", "surveys", "email", "not asked", nil, nil, nil, nil],
            ["s-2", "marketing", "email", "not asked", nil, nil, nil, nil],
            ["s-2", "marketing", "phone", "not asked", nil, nil, nil, nil],
            ["s-2", "marketing", "sms", "not asked", nil, nil, nil, nil],
            ["s-2", "product-research", "email", "not asked", nil, nil, nil, nil],
            ["s-2", "service-updates", "email", "not asked", nil, nil, nil, nil],
            ["s-2", "service-updates", "sms", "not asked", nil, nil, nil, nil],
            ["s-2", "surveys", "email", "granted", "form-1", id(surveys), nil, nil],
        ]
        #expect(rows == expected)
        let propagation = try await fixture.store.query(
            PostgresQuery(
                sql: """
                    SELECT purpose || '/' || channel, system, state, decision, decision_event_id, acknowledgement, error, extract(epoch FROM took)::int
                    FROM \(PostgresIdentifier.quote(fixture.analytics)).consent_propagation WHERE subject_id = 's-1' ORDER BY 1, 2
                    """)
        ).map { row in
            let (question, system, state, decision, event) = try row.decode(String.self, String.self, String.self, String.self, UUID.self)
            return
                "\(question) \(system) \(state) \(decision)\(event == withdrawnId ? " (withdrawal)" : "") \(try row.decode(String?.self, at: 5) ?? "-") \(try row.decode(Int?.self, at: 7).map(String.init) ?? "-")"
        }
        #expect(
            propagation == [
                "marketing/email crm pending withdrawn (withdrawal) - -", "marketing/email marketing-automation applied withdrawn (withdrawal) MA-18 120",
                "product-research/email crm pending granted - -", "service-updates/sms billing pending refused - -",
                "service-updates/sms support-desk pending refused - -",
            ])

        // As of a past instant: from the history view, and from the log through the client.
        let history = { (instant: String) in
            try await fixture.store.query(
                PostgresQuery(
                    sql: """
                        SELECT status, proof_event_id FROM \(PostgresIdentifier.quote(fixture.analytics)).consent_history
                        WHERE subject_id = 's-1' AND purpose = 'marketing' AND channel = 'email' AND valid_from <= $1::timestamptz
                          AND (valid_to IS NULL OR valid_to > $1::timestamptz)
                        """, binds: [instant])
            ).map { try $0.decode(String.self, UUID.self) }
        }
        #expect(try await history("2026-09-01T00:00:00Z").isEmpty)
        #expect(try await history("2026-09-15T00:00:00Z").map(\.0) == ["granted"])
        #expect(try await history("2026-09-15T00:00:00Z").map(\.1) == [givenId])
        #expect(try await history("2026-10-02T00:00:00Z").map(\.1) == [withdrawnId])
        let september = try await consents.consents(of: "s-1", asOf: utc("2026-09-15T00:00:00Z"))
        #expect(september.answers[Self.marketingEmail]?.status == .granted)
        #expect(september.answers[ConsentScope(purpose: "product-research", channel: "email")]?.isExpired(at: utc("2026-09-15T00:00:00Z")) == false)
        let october = try await consents.consents(of: "s-1", asOf: utc("2026-10-20T00:00:00Z"))
        #expect(october.answers[Self.marketingEmail]?.status == .withdrawn)
        #expect(october.answers[ConsentScope(purpose: "product-research", channel: "email")]?.isExpired(at: utc("2026-10-20T00:00:00Z")) == true)
    }
}
