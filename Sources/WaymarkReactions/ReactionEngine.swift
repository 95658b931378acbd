import Foundation
import Logging
import ServiceLifecycle
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Runs the rules of `config/rules.yaml`: a subscription (`reactions:rules`) to the categories the
/// rules react to, which fires each rule on each event that triggers it and records the decision
/// on the journey's stream, in the transaction that moves its checkpoint. A rule fires at most
/// once per event: `rx_fired` holds (rule, event) in that same transaction, so a batch retried
/// after a crash, or one another instance handled, decides nothing twice.
///
/// Several instances may run at once: the subscription's batches take its lock.
public final class ReactionEngine: Service, Sendable {
    public let store: EventStore
    public let rules: RuleSet
    let subscription: CatchUpSubscription?
    let logger: Logger

    public static let subscriptionName = "reactions:rules"

    /// - Parameters:
    ///   - locale: The locale of the messages rules request (`notification_locale`).
    ///   - staleAfterSeconds: An event recorded longer ago than this (downtime, an import) is still
    ///     decided on, but tells nobody: no customer message, no escalation notice.
    public init(
        store: EventStore, rules: RuleSet, definitions: DefinitionLibrary, locale: String, staleAfterSeconds: Int64, codec: EventCodec = .standard,
        time: WallTime = .system, instance: String? = nil, batchSize: Int = 200, logger: Logger
    ) throws {
        self.store = store
        self.rules = rules
        self.logger = logger
        guard !rules.rules.isEmpty else {
            subscription = nil
            return
        }
        let firing = RuleFiring(
            rules: rules, definitions: definitions, codec: codec, locale: locale, staleAfterSeconds: staleAfterSeconds,
            instance: instance ?? "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)", time: time)
        let categories = Set(rules.rules.compactMap(\.category))
        let source: SubscriptionSource = rules.rules.contains { $0.category == nil } ? .all : .categories(categories.sorted())
        subscription = try CatchUpSubscription(
            store: store, name: Self.subscriptionName, source: source, batchSize: batchSize, logger: logger,
            handler: { events, transaction in try await Self.handle(events, rules: rules, firing: firing, logger: logger, in: transaction) })
    }

    public func run() async throws {
        guard let subscription else {
            logger.info("no rules in rules.yaml: the rules engine has nothing to do")
            try await gracefulShutdown()
            return
        }
        try await ReactionSchema.requireMigrated(store, logger: logger)
        try await recordVersion()
        try await subscription.run()
    }

    /// Waits until every event up to the log's head has been judged; false after `timeout`.
    public func waitUntilCaughtUp(timeout: Duration = .seconds(30)) async throws -> Bool {
        guard let subscription else { return true }
        return try await subscription.waitUntilCaughtUp(timeout: timeout)
    }

    /// The rule file as it stands, in the log once per version (whichever instance records it).
    private func recordVersion() async throws {
        let recorded = RulesVersionRecorded(version: rules.version, text: rules.text)
        let data = try EventCodec.standard.encode(recorded, subject: nil)
        try await store.append(
            to: RulesVersionRecorded.stream, expected: .any,
            events: [
                EventData(id: recorded.eventId, type: RulesVersionRecorded.type, data: data, metadata: EventMetadata(actor: "rules", sourceSystem: "waymark"))
            ])
    }

    static func handle(_ events: [RecordedEvent], rules: RuleSet, firing: RuleFiring, logger: Logger, in transaction: Transaction) async throws {
        let types = rules.triggerTypes
        for event in events where types.contains(event.type) {
            for rule in rules.rules(on: event.type, category: event.category) {
                let claimed = try await transaction.query(
                    """
                    INSERT INTO rx_fired (rule_id, trigger_event_id, rule_version, fired_at) VALUES (\(rule.id), \(event.id.uuidString)::uuid, \(rules.version), now())
                    ON CONFLICT DO NOTHING RETURNING 1
                    """)
                guard !claimed.isEmpty else { continue }
                let result = try await firing.fire(rule, on: event, in: transaction)
                let (journeyId, skipped): (String?, String?)
                switch result {
                case .fired(let journey, _): (journeyId, skipped) = (journey, nil)
                case .skipped(let journey, let reason):
                    (journeyId, skipped) = (journey, reason)
                    // Once, by the attempt that commits: a batch may run more than once before one does.
                    if reason != RuleFiring.conditionsNotMet {
                        transaction.afterCommit {
                            logger.notice(
                                "a rule could not judge an event",
                                metadata: ["rule.id": "\(rule.id)", "event.id": "\(event.id)", "event.type": "\(event.type)", "waymark.reason": "\(reason)"])
                        }
                    }
                }
                try await transaction.execute(
                    "UPDATE rx_fired SET journey_id = \(journeyId), skipped = \(skipped) WHERE rule_id = \(rule.id) AND trigger_event_id = \(event.id.uuidString)::uuid"
                )
            }
        }
    }
}
