import Testing
import WaymarkDomain
import WaymarkErrors

/// Rejections of commands that carry personal data name ids and rules, never the person.
@Suite struct DomainErrorContractTests {
    static let name = PersonalData("Ana Silva")
    static let email = PersonalData("ana.silva@example.com")
    static let phone = PersonalData("+351 912 345 678")

    static func expectNoPersonalData(_ rejection: Rejection?, _ code: Rejection.Code, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(rejection?.code == code, "\(String(describing: rejection))", sourceLocation: sourceLocation)
        let texts = [rejection?.description ?? "", rejection?.message ?? "", ErrorReport(rejection ?? Rejection(code, "")).message]
        for text in texts {
            for value in [name.value, email.value, phone.value, "Silva", "example.com"] {
                #expect(!text.contains(value), "\(text)", sourceLocation: sourceLocation)
            }
        }
    }

    static func rejection(_ result: Result<[CustomerEvent], Rejection>) -> Rejection? {
        if case .failure(let rejection) = result { return rejection }
        return nil
    }

    @Test("customer rejections of registrations with a name, an e-mail and a phone show none of them")
    func customerRejections() throws {
        let tiers: Set = ["standard", "gold"]
        let register = CustomerCommand.register(customerId: "c-1", name: Self.name, email: Self.email, phone: Self.phone, tier: "platinum")
        Self.expectNoPersonalData(Self.rejection(CustomerDecider.decide(CustomerState(), register, tiers: tiers)), .unknownTier)

        let blank = CustomerCommand.register(customerId: " ", name: Self.name, email: Self.email, phone: Self.phone, tier: "gold")
        Self.expectNoPersonalData(Self.rejection(CustomerDecider.decide(CustomerState(), blank, tiers: tiers)), .invalidInput)

        let valid = CustomerCommand.register(customerId: "c-1", name: Self.name, email: Self.email, phone: Self.phone, tier: "gold")
        let events = try CustomerDecider.decide(CustomerState(), valid, tiers: tiers).get()
        let registered = events.reduce(CustomerState()) { CustomerState.evolve($0, $1) }
        Self.expectNoPersonalData(Self.rejection(CustomerDecider.decide(registered, valid, tiers: tiers)), .customerAlreadyRegistered)
    }

    @Test("journey status words are the views' words")
    func statusWords() {
        #expect(JourneyState.Status.allCases.map(\.rawValue) == ["not_started", "active", "waiting_on_customer", "completed", "cancelled"])
    }
}
