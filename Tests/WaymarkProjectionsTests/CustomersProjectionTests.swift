import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

@Suite("Customers projection")
struct CustomersProjectionTests {
    @Test("tiers, merges and external ids: a duplicate's ids move to the survivor; no personal data reaches the views")
    func customers() async throws {
        let fixture = try await Fixture { _ in [CustomersProjection()] }
        defer { Task { await fixture.store.close() } }
        let directory = CustomerDirectory(client: fixture.client, tiers: fixture.client.catalog.tiers)
        try await directory.register(customerId: "acme", name: PersonalData("Acme GmbH"), email: PersonalData("a@acme.example"), tier: "standard")
        try await directory.register(customerId: "acme-2", name: PersonalData("ACME"), tier: "standard")
        try await directory.link(ExternalID(system: "crm", id: "A-1"), to: "acme")
        try await directory.link(ExternalID(system: "billing", id: "B-9"), to: "acme-2")
        try await directory.changeTier(customerId: "acme", to: "enterprise")
        try await directory.merge("acme-2", into: "acme")
        try await fixture.runUntilCaughtUp("customers")
        let customers = try await fixture.view("customers", "customer_id, tier, merged_into, survivor_id, external_ids::text", order: "customer_id")
        #expect(customers == [["acme", "enterprise", nil, "acme", "{billing:B-9,crm:A-1}"], ["acme-2", "standard", "acme", "acme", "{}"]])
        let ids = try await fixture.view("external_ids", "system, external_id, customer_id", order: "system")
        #expect(ids == [["billing", "B-9", "acme"], ["crm", "A-1", "acme"]])
        let columns = try await fixture.store.query(
            "SELECT string_agg(column_name, ',') FROM information_schema.columns WHERE table_schema = \(fixture.analytics) AND table_name = 'customers'")
        let names = try columns[0].decode(String.self, at: 0)
        #expect(!names.contains("name") && !names.contains("email") && !names.contains("phone"), "\(names)")
    }
}
