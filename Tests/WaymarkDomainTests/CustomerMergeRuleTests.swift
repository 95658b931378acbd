import Foundation
import Testing
import WaymarkDomain

@Suite("Customer merges in the domain")
struct CustomerMergeRuleTests {
    @Test("a merge into a survivor that already holds an absorbed id keeps that id once")
    func absorbedIdHeldOnce() throws {
        func event(_ type: String, _ data: String) throws -> CustomerEvent { try #require(try CustomerEvent.decode(type: type, data: data)) }
        var state = CustomerState()
        state = CustomerState.evolve(state, try event("CustomerRegistered", #"{"customerId":"keep","name":"Acme","tier":"strategic"}"#))
        state = CustomerState.evolve(state, try event("ExternalIdLinked", #"{"system":"erp","id":"D-2002"}"#))
        state = CustomerState.evolve(
            state, try event("CustomerAbsorbed", #"{"duplicate":"dup","externalIDs":[{"system":"erp","id":"D-2002"},{"system":"crm","id":"C-9"}]}"#))
        #expect(state.externalIDs == [ExternalID(system: "erp", id: "D-2002"), ExternalID(system: "crm", id: "C-9")])
        #expect(state.absorbed == ["dup"])
    }
}
