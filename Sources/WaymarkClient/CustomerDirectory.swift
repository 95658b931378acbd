import Crypto
import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Customers and the identity index: an external id (system + id) belongs to one customer.
///
/// Each external id has a stream of its own, `externalid-<system>-<hash of the id>`, whose events
/// say which customer holds it. Claiming an id appends to that stream with `.noStream` (or the
/// version it was read at), in the same transaction as the link on the customer's stream, so two
/// customers can never hold one id, and a merge moves every id of the duplicate to the survivor.
public struct CustomerDirectory: Sendable {
    public let client: WaymarkClient
    /// The tiers customers can have: by default those the client's journey definitions serve.
    public let tiers: Set<String>

    public init(client: WaymarkClient, tiers: Set<String>? = nil) {
        self.client = client
        self.tiers = tiers ?? client.catalog.tiers
    }

    public static func streamName(customer customerId: String) -> String { CustomerDecider.streamName(customerId) }

    /// The customer record's rules under `tiers`.
    public var decider: CustomerDecider { CustomerDecider(tiers: tiers) }

    /// The identity stream of `id`. The id itself can hold any text, so the name carries a hash.
    public static func streamName(externalID id: ExternalID) -> String {
        let digest = SHA256.hash(data: Data("\(id.system)\u{0}\(id.id)".utf8)).prefix(16).hexText
        return "externalid-\(id.system)-\(digest)"
    }

    static let claimType = "ExternalIdClaimed"

    struct Claim: Codable, Equatable {
        var system: String
        var id: String
        var customerId: String
    }

    @discardableResult
    public func register(
        customerId: String, name: PersonalData, email: PersonalData? = nil, phone: PersonalData? = nil, tier: String, context: CommandContext = CommandContext()
    ) async throws -> CommandResult {
        try await client.send(
            .register(customerId: customerId, name: name, email: email, phone: phone, tier: tier), to: customerId, with: decider, context: context)
    }

    @discardableResult
    public func changeTier(customerId: String, to tier: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        try await client.send(.changeTier(tier), to: customerId, with: decider, context: context)
    }

    /// Links `id` to `customerId`. Refused with `external_id_linked_elsewhere`, naming the owner,
    /// when another customer holds it.
    @discardableResult
    public func link(_ id: ExternalID, to customerId: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        let fingerprint = decider.fingerprint(of: .linkExternalID(id), on: customerId)
        let customers = client.cache(for: decider)
        return try await client.handle(
            context: context.resolved(sender: client.configuration.sender), fingerprint: fingerprint, forgetting: { customers.forget(customerId) }
        ) {
            transaction, ids in
            let (state, version) = try await load(customerId, transaction)
            let events = try CustomerDecider.decide(state, .linkExternalID(id), tiers: tiers).get()
            let identity = Self.streamName(externalID: id)
            let (owner, identityVersion) = try await holder(of: identity, transaction)
            if let owner { throw Rejection(.externalIDLinkedElsewhere, "\(id) is linked to customer \(owner)") }
            var appended = try await transaction.appendForCommand(
                to: identity, expected: .exact(identityVersion),
                events: [try ids.next(type: Self.claimType, payload: Claim(system: id.system, id: id.id, customerId: customerId), correlation: customerId)])
            appended += try await append(events, to: customerId, expected: version, transaction, ids)
            return appended
        }
    }

    /// Merges `duplicate` into `survivor`: the duplicate's external ids move to the survivor, and
    /// reads by either id resolve to the survivor from then on.
    @discardableResult
    public func merge(_ duplicate: String, into survivor: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        let customers = client.cache(for: decider)
        let forget: @Sendable () -> Void = {
            customers.forget(duplicate)
            customers.forget(survivor)
        }
        return try await client.handle(
            context: context.resolved(sender: client.configuration.sender), fingerprint: decider.fingerprint(of: .mergeInto(survivor: survivor), on: duplicate),
            forgetting: forget
        ) {
            transaction, ids in
            let (duplicateState, duplicateVersion) = try await load(duplicate, transaction)
            let (survivorState, survivorVersion) = try await load(survivor, transaction)
            let merged = try CustomerDecider.decide(duplicateState, .mergeInto(survivor: survivor), tiers: tiers).get()
            let absorbed = try CustomerDecider.decide(survivorState, .absorb(duplicate: duplicate, externalIDs: duplicateState.externalIDs), tiers: tiers).get()
            var appended: [CommandResult.Appended] = []
            for id in duplicateState.externalIDs {
                let identity = Self.streamName(externalID: id)
                let (_, version) = try await holder(of: identity, transaction)
                appended += try await transaction.appendForCommand(
                    to: identity, expected: .exact(version),
                    events: [try ids.next(type: Self.claimType, payload: Claim(system: id.system, id: id.id, customerId: survivor), correlation: survivor)])
            }
            appended += try await append(merged, to: duplicate, expected: duplicateVersion, transaction, ids)
            appended += try await append(absorbed, to: survivor, expected: survivorVersion, transaction, ids)
            return appended
        }
    }

    /// The customer `customerId` stands for now: itself, or the survivor of the merges it went through.
    public func resolve(_ customerId: String) async throws -> String {
        var current = customerId
        for _ in 0..<64 {
            guard let next = try await state(of: current).mergedInto else { return current }
            current = next
        }
        return current
    }

    /// The customer that holds `id` (resolved through merges), or nil when nobody does.
    public func customer(holding id: ExternalID) async throws -> String? {
        let page = try await client.store.readStream(Self.streamName(externalID: id), direction: .backward, limit: 1)
        guard let last = page.events.first else { return nil }
        return try await resolve(try last.decode(Claim.self).customerId)
    }

    /// The journeys of customer `customerId` and of every record merged into it, oldest start
    /// first, each as its events build it now. A duplicate's id finds the survivor's journeys.
    public func journeys(of customerId: String) async throws -> [JourneyState] {
        let survivor = try await resolve(customerId)
        var customers: [String] = []
        var pending = [survivor]
        while let next = pending.popLast(), customers.count < 1_000 {
            guard !customers.contains(next) else { continue }
            customers.append(next)
            pending += try await state(of: next).absorbed
        }
        // The partial index of migration 0004 answers this from one entry per journey.
        let rows = try await client.store.query(
            """
            SELECT substr(stream_name, 9) FROM events
            WHERE event_type = 'JourneyStarted' AND data->>'customerId' = ANY(\(PostgresArray(customers))::text[]) AND stream_name LIKE 'journey-%'
            ORDER BY tx_id, global_id
            """)
        var journeys: [JourneyState] = []
        for row in rows { journeys.append(try await client.state(journey: try row.decode(String.self, at: 0))) }
        return journeys
    }

    public func state(of customerId: String) async throws -> CustomerState {
        try await client.store.transaction { try await load(customerId, $0).0 }
    }

    /// Folds a stored event into the state, reading it through the client's codec (the decider
    /// made once per fold, not per event).
    private var evolve: @Sendable (CustomerState, RecordedEvent) throws -> CustomerState {
        let (decider, codec) = (decider, client.configuration.codec)
        return { try decider.evolve($0, recorded: $1, codec: codec) }
    }

    private func append(_ events: [CustomerEvent], to customerId: String, expected version: Int64, _ transaction: Transaction, _ ids: EventIDs) async throws
        -> [CommandResult.Appended]
    {
        try await transaction.appendForCommand(
            to: Self.streamName(customer: customerId), expected: .exact(version), events: try ids.next(events, correlation: customerId, subject: customerId))
    }

    private func load(_ customerId: String, _ transaction: Transaction) async throws -> (CustomerState, Int64) {
        try await transaction.fold(Self.streamName(customer: customerId), into: CustomerState(), evolve)
    }

    /// Who holds the identity stream's id now, and the stream's version.
    private func holder(of stream: String, _ transaction: Transaction) async throws -> (String?, Int64) {
        let page = try await transaction.readStream(stream, direction: .backward, limit: 1)
        guard let last = page.events.first else { return (nil, 0) }
        return (try last.decode(Claim.self).customerId, last.streamVersion)
    }
}
