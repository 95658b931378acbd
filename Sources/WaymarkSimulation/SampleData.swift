import WaymarkDomain

/// The people of each department, and the system each one works in.
enum Owners {
    static let byDepartment: [String: [String]] = [
        "sales": ["ana.silva", "ben.okafor", "chloe.martin", "dev.patel", "elena.rossi"],
        "onboarding": ["farid.haddad", "grace.kim", "hugo.lefevre", "ines.moreau"],
        "fulfilment": ["jonas.berg", "kofi.mensah", "lena.fischer"],
        "service": ["maya.cohen", "nils.johansson", "olga.ivanova", "pablo.garcia", "quinn.murphy"],
        "engineering": ["rahul.nair", "sofia.costa", "tom.becker"],
        "billing": ["uma.reddy", "victor.dubois", "wen.li"],
        "finance": ["xavier.roux", "yara.haddad"],
        "logistics": ["zane.kowalski", "amir.saleh"],
    ]

    static func pick(_ department: String, _ random: inout SeededGenerator, not current: String? = nil) -> String {
        let people = (byDepartment[department] ?? ["\(department).agent-1", "\(department).agent-2"]).filter { $0 != current }
        return people.randomElement(using: &random)!
    }

    /// The integrated system a department records its work in.
    static func system(of department: String) -> String {
        switch department {
        case "sales": return "crm"
        case "service", "engineering": return "support"
        case "billing", "finance": return "billing"
        default: return "erp"
        }
    }

    /// The system a journey of this type comes from.
    static func originSystem(of journeyType: String) -> String {
        switch journeyType {
        case "support-case": return "support"
        case "order-to-cash": return "erp"
        default: return "crm"
        }
    }
}

enum Reasons {
    static let waiting = [
        "signed documents", "purchase order", "technical contact", "access credentials", "data export", "site readiness", "reply to our questions",
    ]
    static let cancelling = ["customer chose a competitor", "budget withdrawn", "duplicate request", "customer unreachable", "credit refused"]
    /// A free-text comment per CSAT score (1 to 5).
    static let comments = [
        "Nobody told me what was going on.", "Slow, and I had to chase twice.", "Fine in the end.", "Smooth, thank you.",
        "Excellent, the team was great.",
    ]
}

/// A customer of the simulation: registered, linked to its CRM record, with consent answers.
public struct SimulatedCustomer: Sendable {
    public var id: String
    public var tier: String
    public var name: String
    public var email: String
    public var crmId: String

    static let firstNames = ["Aiko", "Bruno", "Carmen", "Dmitri", "Esther", "Femi", "Greta", "Hamid", "Ingrid", "Jamal", "Kirsten", "Luis"]
    static let lastNames = ["Andersen", "Baptiste", "Chen", "Duarte", "Eriksen", "Fontaine", "Gallo", "Horvat", "Ito", "Jansen", "Kowalczyk"]
    static let companies = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent", "Hooli"]

    init(id: String, random: inout SeededGenerator) {
        self.id = id
        tier = random.weighted([("strategic", 0.1), ("enterprise", 0.3), ("standard", 0.6)])
        let first = Self.firstNames.randomElement(using: &random)!
        let last = Self.lastNames.randomElement(using: &random)!
        let company = Self.companies.randomElement(using: &random)!
        name = "\(first) \(last)"
        email = "\(first.lowercased()).\(last.lowercased())@\(company.lowercased()).example"
        // Unique per customer: an id another customer holds would be refused.
        crmId = "ACC-\(id.uppercased())"
    }
}
