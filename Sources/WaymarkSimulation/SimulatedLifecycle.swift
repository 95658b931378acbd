import Foundation
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore

/// What happens to customers and journeys besides the journeys' own commands: downstream systems
/// reporting on consent decisions, consent that expires, tier changes, duplicate customer records
/// merged into the customer, and integration events on journeys' streams (and on the streams of
/// the systems around them: `IntegrationEvents.swift`). Each draws from generators of its own
/// (salts 4 to 9), so the rest of the simulation draws as before.
extension Simulator {
    /// The rates, per customer or per journey.
    enum Rates {
        /// Customers with a duplicate record (registered by the support desk, later merged).
        static let duplicate = 0.04
        /// Journeys of such a customer started under the duplicate's id, before the merge.
        static let journeyOnDuplicate = 0.4
        /// Customers whose tier changes during the period.
        static let tierChange = 0.08
        /// Customers asked for product research by e-mail for a year: some grants run out.
        static let expiringConsent = 0.25
        /// A downstream system reports a decision applied, or failed (and then, mostly, applied
        /// after a retry); the rest have not reported yet.
        static let applied = 0.9
        static let failed = 0.06
        static let appliedAfterFailure = 0.7
        /// Journeys with an event of an integrated system on their stream.
        static let integrationEvent = 0.25
    }

    /// The duplicate record of customer `index`, if it has one.
    static func duplicate(of customer: SimulatedCustomer, _ index: Int, seed: UInt64) -> String? {
        var random = SeededGenerator(seed: seed, salt: 4, index: index)
        return random.chance(Rates.duplicate) ? customer.id + "-dup" : nil
    }

    /// The customer a journey names: now and then the duplicate record of its customer.
    static func journeyCustomer(_ customer: SimulatedCustomer, _ customerIndex: Int, journey index: Int, _ options: SimulationOptions) -> SimulatedCustomer {
        guard let duplicate = duplicate(of: customer, customerIndex, seed: options.seed) else { return customer }
        var random = SeededGenerator(seed: options.seed, salt: 5, index: index)
        guard random.chance(Rates.journeyOnDuplicate) else { return customer }
        var named = customer
        named.id = duplicate
        return named
    }

    /// A note synced from the CRM: one event of the system around the journey on its stream, after
    /// one of its commands. (Order-to-cash journeys and support cases get the shipment, support
    /// desk and survey events the rules react to instead: `addRuleTriggers`.)
    static func addIntegrationEvents(to script: inout JourneyScript, journey index: Int, _ options: SimulationOptions) {
        var random = SeededGenerator(seed: options.seed, salt: 7, index: index)
        guard script.commands.count > 1, !["order-to-cash", "support-case"].contains(script.journeyType), random.chance(Rates.integrationEvent)
        else { return }
        let after = Int.random(in: 0..<(script.commands.count - 1), using: &random)
        // Between the command and the next, so that the stream's times stay in order.
        let from = script.commands[after].occurredAt
        let to = script.commands[after + 1].occurredAt
        let at = from.addingTimeInterval((to.timeIntervalSince(from) * Double.random(in: 0..<1, using: &random)).rounded(.down))
        let data = #"{"note":"N-\#(Int.random(in: 10_000...99_999, using: &random))"}"#
        script.integrationEvents.append(
            IntegrationEvent(afterCommand: after, id: random.uuid(), type: "CRMNoteSynced", data: data, occurredAt: at, sourceSystem: "crm"))
    }

    /// Appends `event` through the client's raw append (idempotent by its id), on its stream or
    /// else the journey's.
    func appendIntegrationEvent(_ event: IntegrationEvent, to journeyId: String) async throws {
        let metadata = EventMetadata(
            correlationId: event.correlationId ?? journeyId, actor: event.actor, sourceSystem: event.sourceSystem, occurredAt: event.occurredAt)
        let data = EventData(id: event.id, type: event.type, data: event.data, metadata: metadata)
        if let stream = event.stream {
            try await client.append(toStream: stream, events: [data])
        } else {
            try await client.append([data], toJourney: journeyId)
        }
    }

    /// The consent decisions of one customer and the reports its downstream systems make on them.
    struct PropagationReports {
        var random: SeededGenerator
        var decisions: [(scope: ConsentScope, id: UUID, at: Date)] = []

        init(customer index: Int, _ options: SimulationOptions) {
            random = SeededGenerator(seed: options.seed, salt: 8, index: index)
        }

        mutating func note(_ result: ConsentResult, _ command: ConsentCommand, at: Date) {
            let scope: ConsentScope
            switch command {
            case .give(let record), .refuse(let record): scope = record.scope
            case .withdraw(let withdrawn, _): scope = withdrawn
            case .recordPropagation: return
            }
            guard let id = result.decisionId else { return }
            decisions.append((scope, id, at))
        }

        /// Product research by e-mail for a year, for some customers: registered a year or less
        /// before the period's end, so some grants run out before it and some after.
        mutating func expiringConsent(proof: String, registeredAt: Date, until: Date) -> (record: ConsentRecord, offset: Double)? {
            guard random.chance(Rates.expiringConsent) else { return nil }
            let offset = 150.0
            let record = ConsentRecord(
                scope: ConsentScope(purpose: "product-research", channel: "email"), legalBasis: .consent, noticeVersion: "research-2026.1",
                collectionPoint: "survey-invite", proofReference: proof, expiresAt: registeredAt.addingTimeInterval(offset + 365 * 86_400))
            return (record, offset)
        }
    }

    /// Each downstream system of each decision's purpose reports on it, minutes to hours later.
    func propagate(_ reports: PropagationReports, subject: String, _ count: (CommandResult) -> Void) async throws {
        let consents = ConsentRegistry(client: client)
        var random = reports.random
        for decision in reports.decisions {
            for system in client.catalog.consentPurposes[decision.scope.purpose]?.downstream ?? [] {
                let roll = Double.random(in: 0..<1, using: &random)
                guard roll < Rates.applied + Rates.failed else { continue }
                var at = decision.at.addingTimeInterval(Double.random(in: 30...3_600, using: &random).rounded())
                func report(_ acknowledgement: String?, _ error: String?) async throws {
                    let context = CommandContext(commandId: random.uuid(), actor: "\(system)-sync", sourceSystem: system, occurredAt: at)
                    let propagation = ConsentPropagation(
                        scope: decision.scope, system: system, decision: decision.id, acknowledgement: acknowledgement, error: error)
                    try await outcome({ try await consents.record(.recordPropagation(propagation), subject: subject, context: context).command }, count)
                }
                if roll >= Rates.applied {
                    try await report(nil, ["timeout calling \(system)", "record locked", "rate limited"].randomElement(using: &random)!)
                    guard random.chance(Rates.appliedAfterFailure) else { continue }
                    at = at.addingTimeInterval(Double.random(in: 3_600...(2 * 86_400), using: &random).rounded())
                }
                try await report("\(system.prefix(3).uppercased())-\(random.next() % 1_000_000)", nil)
            }
        }
    }

    /// A tier change during the period for some customers; for those with a duplicate record, the
    /// duplicate registered by the support desk and merged into the customer during the period.
    func changeCustomer(
        _ customer: SimulatedCustomer, _ index: Int, _ options: SimulationOptions, registeredAt: Date, directory: CustomerDirectory,
        _ count: (CommandResult) -> Void
    ) async throws {
        var random = SeededGenerator(seed: options.seed, salt: 9, index: index)
        let periodStart = options.until.addingTimeInterval(-Double(options.days) * 86_400)
        func context(_ at: Date, _ actor: String, _ system: String) -> CommandContext {
            CommandContext(commandId: random.uuid(), actor: actor, sourceSystem: system, occurredAt: at)
        }
        if let duplicate = Self.duplicate(of: customer, index, seed: options.seed) {
            let registered = context(registeredAt.addingTimeInterval(3_600), "support-sync", "support")
            try await outcome(
                {
                    try await directory.register(
                        customerId: duplicate, name: PersonalData(customer.name), email: PersonalData(customer.email), tier: customer.tier,
                        context: registered)
                }, count)
            // Found and merged some time in the second half of the period.
            let at = periodStart.addingTimeInterval((Double(options.days) * 86_400 * Double.random(in: 0.5..<1, using: &random)).rounded())
            let merged = context(at, "data-steward", "crm")
            try await outcome({ try await directory.merge(duplicate, into: customer.id, context: merged) }, count)
        }
        if random.chance(Rates.tierChange) {
            let tiers = ["strategic", "enterprise", "standard"].filter { $0 != customer.tier && directory.tiers.contains($0) }
            guard let tier = tiers.randomElement(using: &random) else { return }
            let at = periodStart.addingTimeInterval((Double(options.days) * 86_400 * Double.random(in: 0..<1, using: &random)).rounded())
            let changed = context(at, "account-manager", "crm")
            try await outcome({ try await directory.changeTier(customerId: customer.id, to: tier, context: changed) }, count)
        }
    }
}
