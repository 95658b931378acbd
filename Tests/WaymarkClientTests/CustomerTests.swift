import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

func freshDirectory(maxConnections: Int = 6) async throws -> CustomerDirectory {
    let client = try await freshClient(maxConnections: maxConnections)
    return CustomerDirectory(client: client, tiers: ["strategic", "enterprise", "standard"])
}

@Suite("Customers and identity")
struct CustomerTests {
    @Test("an external id maps to one customer; linking it elsewhere is refused naming the owner")
    func linking() async throws {
        let directory = try await freshDirectory()
        defer { Task { await directory.client.store.close() } }
        try await directory.register(customerId: "c-1", name: PersonalData("Acme GmbH"), email: PersonalData("ops@acme.example"), tier: "enterprise")
        try await directory.register(customerId: "c-2", name: PersonalData("Acme (dup)"), tier: "standard")
        let crm = ExternalID(system: "crm", id: "0015g00000 ACME/1")
        let context = CommandContext(commandId: UUID(), sourceSystem: "crm")
        let linked = try await directory.link(crm, to: "c-1", context: context)
        #expect(linked.types == ["ExternalIdClaimed", "ExternalIdLinked"])
        #expect(try await directory.customer(holding: crm) == "c-1")
        #expect(try await directory.customer(holding: ExternalID(system: "crm", id: "unknown")) == nil)
        do {
            try await directory.link(crm, to: "c-2")
            Issue.record("one external id linked to two customers")
        } catch let rejection as Rejection {
            #expect(rejection.code == .externalIDLinkedElsewhere)
            #expect(rejection.message.contains("c-1"))
        }
        // A retried command returns what it wrote.
        let again = try await directory.link(crm, to: "c-1", context: context)
        #expect(again.replayed && again.events == linked.events)
        // Rejections: tier, double registration, empty name; nothing stored.
        await #expect(throws: Rejection.self) { try await directory.register(customerId: "c-3", name: PersonalData("X"), tier: "platinum") }
        await #expect(throws: Rejection.self) { try await directory.register(customerId: "c-1", name: PersonalData("Again"), tier: "standard") }
        await #expect(throws: Rejection.self) { try await directory.register(customerId: "c-4", name: PersonalData(" "), tier: "standard") }
        #expect(try await directory.state(of: "c-3").isRegistered == false)
        #expect(try await directory.state(of: "c-2").externalIDs.isEmpty)
    }

    @Test("a merge moves the duplicate's links to the survivor; reads by either id resolve to the survivor")
    func merging() async throws {
        let directory = try await freshDirectory()
        defer { Task { await directory.client.store.close() } }
        try await directory.register(customerId: "survivor", name: PersonalData("Acme"), tier: "strategic")
        try await directory.register(customerId: "dup", name: PersonalData("ACME Ltd"), tier: "standard")
        let erp = ExternalID(system: "erp", id: "D-1001")
        let billing = ExternalID(system: "billing", id: "B-77")
        try await directory.link(erp, to: "dup")
        try await directory.link(billing, to: "survivor")
        let merged = try await directory.merge("dup", into: "survivor")
        #expect(merged.types == ["ExternalIdClaimed", "CustomerMergedInto", "CustomerAbsorbed"])
        #expect(try await directory.customer(holding: erp) == "survivor")
        #expect(try await directory.customer(holding: billing) == "survivor")
        #expect(try await directory.resolve("dup") == "survivor")
        #expect(try await directory.resolve("survivor") == "survivor")
        let survivor = try await directory.state(of: "survivor")
        #expect(Set(survivor.externalIDs) == [erp, billing] && survivor.absorbed == ["dup"])
        do {
            try await directory.changeTier(customerId: "dup", to: "enterprise")
            Issue.record("a merged record accepted a command")
        } catch let rejection as Rejection {
            #expect(rejection.code == .customerMerged && rejection.message.contains("survivor"))
        }
        await #expect(throws: Rejection.self) { try await directory.merge("survivor", into: "survivor") }
        // The survivor may link the moved id again only as a no-op refusal: it already holds it.
        await #expect(throws: Rejection.self) { try await directory.link(erp, to: "survivor") }
    }

    @Test("two customers racing for one external id: exactly one holds it")
    func racingLinks() async throws {
        let directory = try await freshDirectory(maxConnections: 12)
        defer { Task { await directory.client.store.close() } }
        for index in 0..<8 { try await directory.register(customerId: "r-\(index)", name: PersonalData("Racer \(index)"), tier: "standard") }
        let contested = ExternalID(system: "support", id: "ticket-owner-9")
        let winners = Locked<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<8 {
                group.addTask {
                    do {
                        try await directory.link(contested, to: "r-\(index)")
                        winners.withLock { $0.append("r-\(index)") }
                    } catch let rejection as Rejection where rejection.code == .externalIDLinkedElsewhere {
                    } catch is CommandConflictError {
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(winners.value.count == 1, "\(winners.value)")
        #expect(try await directory.customer(holding: contested) == winners.value.first)
        var holders = 0
        for index in 0..<8 where try await directory.state(of: "r-\(index)").externalIDs.contains(contested) { holders += 1 }
        #expect(holders == 1)
    }
}
