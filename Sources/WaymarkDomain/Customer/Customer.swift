import Foundation

/// A reference to a customer in another system: CRM, ERP, support desk, billing.
public struct ExternalID: Sendable, Hashable, Codable, CustomStringConvertible {
    public var system: String
    public var id: String

    public init(system: String, id: String) {
        self.system = system
        self.id = id
    }

    public var description: String { "\(system):\(id)" }
}

/// What a service asks of a customer record (stream `customer-<id>`).
public enum CustomerCommand: Sendable, Equatable {
    case register(customerId: String, name: PersonalData, email: PersonalData?, phone: PersonalData?, tier: String)
    case linkExternalID(ExternalID)
    case changeTier(String)
    /// Merge this (duplicate) record into `survivor`; the duplicate's external ids move there.
    case mergeInto(survivor: String)
    /// The survivor's side of a merge.
    case absorb(duplicate: String, externalIDs: [ExternalID])
}

public enum CustomerEvent: DomainEvent, Equatable {
    case registered(Registered)
    case externalIDLinked(ExternalID)
    case tierChanged(TierChanged)
    case mergedInto(MergedInto)
    case absorbed(Absorbed)

    public struct Registered: Sendable, Equatable, Codable {
        public var customerId: String
        /// Personal data: encrypted per subject by a later module.
        public var name: PersonalData
        public var email: PersonalData?
        public var phone: PersonalData?
        public var tier: String
    }

    public struct TierChanged: Sendable, Equatable, Codable {
        public var from: String
        public var to: String
    }

    public struct MergedInto: Sendable, Equatable, Codable {
        public var survivor: String
        public var externalIDs: [ExternalID]
    }

    public struct Absorbed: Sendable, Equatable, Codable {
        public var duplicate: String
        public var externalIDs: [ExternalID]
    }

    public var type: String {
        switch self {
        case .registered: return "CustomerRegistered"
        case .externalIDLinked: return "ExternalIdLinked"
        case .tierChanged: return "TierChanged"
        case .mergedInto: return "CustomerMergedInto"
        case .absorbed: return "CustomerAbsorbed"
        }
    }

    public func encode(with codec: EventCodec, subject: String?) throws -> String {
        switch self {
        case .registered(let payload): return try codec.encode(payload, subject: subject)
        case .externalIDLinked(let payload): return try codec.encode(payload, subject: subject)
        case .tierChanged(let payload): return try codec.encode(payload, subject: subject)
        case .mergedInto(let payload): return try codec.encode(payload, subject: subject)
        case .absorbed(let payload): return try codec.encode(payload, subject: subject)
        }
    }

    /// Every type `decode` knows: the events only this domain's commands write.
    public static let storedTypes: Set<String> = ["CustomerRegistered", "ExternalIdLinked", "TierChanged", "CustomerMergedInto", "CustomerAbsorbed"]

    public static func decode(type: String, data: String, codec: EventCodec) throws -> CustomerEvent? {
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try codec.decode(type, from: data) }
        switch type {
        case "CustomerRegistered": return .registered(try decode(Registered.self))
        case "ExternalIdLinked": return .externalIDLinked(try decode(ExternalID.self))
        case "TierChanged": return .tierChanged(try decode(TierChanged.self))
        case "CustomerMergedInto": return .mergedInto(try decode(MergedInto.self))
        case "CustomerAbsorbed": return .absorbed(try decode(Absorbed.self))
        default: return nil
        }
    }
}

public struct CustomerState: Sendable, Equatable {
    public var customerId: String?
    public var tier: String?
    public var externalIDs: [ExternalID] = []
    /// Set once the record was merged into another: reads resolve to that survivor.
    public var mergedInto: String?
    public var absorbed: [String] = []
    public var version: Int64 = 0

    public init() {}

    public var isRegistered: Bool { customerId != nil }

    public static func evolve(_ state: CustomerState, _ event: CustomerEvent) -> CustomerState {
        var next = state
        next.version += 1
        switch event {
        case .registered(let registered):
            next.customerId = registered.customerId
            next.tier = registered.tier
        case .externalIDLinked(let id):
            next.externalIDs.append(id)
        case .tierChanged(let changed):
            next.tier = changed.to
        case .mergedInto(let merged):
            next.mergedInto = merged.survivor
            next.externalIDs = []
        case .absorbed(let absorbed):
            next.absorbed.append(absorbed.duplicate)
            for id in absorbed.externalIDs where !next.externalIDs.contains(id) { next.externalIDs.append(id) }
        }
        return next
    }
}

/// The customer record's rules. Whether an external id is free across all customers is the
/// command handler's to check (it owns the identity index); this decides one record.
public struct CustomerDecider: Decider {
    public static let category = "customer"

    /// The tiers customers can have: those the journey definitions serve.
    public let tiers: Set<String>

    public init(tiers: Set<String>) { self.tiers = tiers }

    public var initialState: CustomerState { CustomerState() }

    public func decide(_ command: CustomerCommand, on id: String, state: CustomerState) throws -> [CustomerEvent] {
        if case .register(let customerId, _, _, _, _) = command, customerId != id {
            throw Rejection(.invalidInput, "the registration names customer \(customerId), sent to \(id)")
        }
        return try Self.decide(state, command, tiers: tiers).get()
    }

    public func evolve(_ state: CustomerState, _ event: CustomerEvent, eventId: UUID) -> CustomerState { CustomerState.evolve(state, event) }

    public func fingerprint(of command: CustomerCommand, on id: String) -> String { CommandFingerprint.of(command, to: id) }

    public func createsStream(_ command: CustomerCommand) -> Bool {
        if case .register = command { return true }
        return false
    }

    /// The customer: their name, e-mail and phone.
    public func subject(of id: String, after state: CustomerState) -> String? { id }

    public static func decide(_ state: CustomerState, _ command: CustomerCommand, tiers: Set<String>) -> Result<[CustomerEvent], Rejection> {
        do {
            return .success(try events(state, command, tiers))
        } catch let rejection as Rejection {
            return .failure(rejection)
        } catch {
            return .failure(Rejection(.invalidInput, "\(error)"))
        }
    }

    private static func events(_ state: CustomerState, _ command: CustomerCommand, _ tiers: Set<String>) throws -> [CustomerEvent] {
        if case .register(let customerId, let name, let email, let phone, let tier) = command {
            guard !state.isRegistered else { throw Rejection(.customerAlreadyRegistered, "customer \(customerId) is already registered") }
            try require(customerId, "the customer id")
            try require(name.value, "the customer's name")
            try requireTier(tier, tiers)
            return [.registered(.init(customerId: customerId, name: name, email: email, phone: phone, tier: tier))]
        }
        guard state.isRegistered else { throw Rejection(.customerNotRegistered, "the customer is not registered") }
        if let survivor = state.mergedInto {
            throw Rejection(.customerMerged, "customer \(state.customerId ?? "?") was merged into \(survivor): send commands to \(survivor)")
        }
        switch command {
        case .register:
            preconditionFailure("handled above")
        case .linkExternalID(let id):
            try require(id.system, "the external system")
            try require(id.id, "the external id")
            guard !state.externalIDs.contains(id) else { throw Rejection(.externalIDAlreadyLinked, "\(id) is already linked to this customer") }
            return [.externalIDLinked(id)]
        case .changeTier(let tier):
            try requireTier(tier, tiers)
            guard tier != state.tier else { throw Rejection(.invalidInput, "the customer is already in tier \(tier)") }
            return [.tierChanged(.init(from: state.tier ?? "", to: tier))]
        case .mergeInto(let survivor):
            try require(survivor, "the surviving customer")
            guard survivor != state.customerId else { throw Rejection(.mergeIntoItself, "a customer cannot be merged into itself") }
            return [.mergedInto(.init(survivor: survivor, externalIDs: state.externalIDs))]
        case .absorb(let duplicate, let ids):
            guard duplicate != state.customerId else { throw Rejection(.mergeIntoItself, "a customer cannot absorb itself") }
            return [.absorbed(.init(duplicate: duplicate, externalIDs: ids))]
        }
    }

    private static func require(_ text: String, _ what: String) throws {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw Rejection(.invalidInput, "\(what) must not be empty") }
    }

    private static func requireTier(_ tier: String, _ tiers: Set<String>) throws {
        guard tiers.contains(tier) else { throw Rejection(.unknownTier, "tier '\(tier)' is not one of \(tiers.sorted().joined(separator: ", "))") }
    }
}
