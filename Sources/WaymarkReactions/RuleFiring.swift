import Foundation
import Logging
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres

/// Fires one rule on one triggering event inside the subscription's transaction: reads the journey
/// as it stands (and its customer's tier and consent), decides, and appends the decision to the
/// journey's stream in one append: `RuleFired` first, then what each action recorded.
struct RuleFiring: Sendable {
    let rules: RuleSet
    let definitions: DefinitionLibrary
    let codec: EventCodec
    let locale: String
    let staleAfterSeconds: Int64
    let instance: String
    let time: WallTime

    static let conditionsNotMet = "conditions not met"

    /// What became of a rule on an event.
    enum Result: Equatable {
        case fired(journeyId: String, events: Int)
        case skipped(journeyId: String?, reason: String)
    }

    func fire(_ rule: Rule, on trigger: RecordedEvent, in transaction: Transaction) async throws -> Result {
        let inputs: [String: RuleScalar]
        do {
            inputs = try rules.events[trigger.type].map { try RuleInputs.fields(of: trigger.data, schema: $0) } ?? [:]
        } catch let error as RuleInputError {
            return .skipped(journeyId: nil, reason: error.message)
        }
        guard let journeyId = journeyId(of: trigger, fields: inputs) else {
            return .skipped(journeyId: nil, reason: "the \(trigger.type) event names no journey")
        }
        let stream = JourneyDecider.streamName(journeyId)
        let (state, _) = try await transaction.fold(stream, into: JourneyState()) { state, recorded in
            guard let event = try JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: codec) else { return state }
            return JourneyState.evolve(state, event)
        }
        guard state.status != .notStarted, let customerId = state.customerId else {
            return .skipped(journeyId: journeyId, reason: "no journey '\(journeyId)' has started")
        }
        let contact = try await CustomerContact.load(customerId, from: transaction, codec: codec)
        let journey = NotificationEvent.JourneyContext(
            journeyId: journeyId, journeyType: state.journeyType ?? "", definitionVersion: state.definitionVersion ?? "", stage: state.stage ?? "",
            department: state.department ?? "", tier: contact.tier ?? state.tier ?? "")
        let facts = RuleInputs(
            event: inputs,
            journey: [
                .type: journey.journeyType, .stage: journey.stage, .department: journey.department, .tier: journey.tier, .status: state.status.rawValue,
                .customer: contact.subjectId,
            ])
        guard let decision = rule.decide(facts) else { return .skipped(journeyId: journeyId, reason: Self.conditionsNotMet) }

        let now = time.now()
        var decided = Decided(
            rule: rule, ruleVersion: rules.version, trigger: trigger, inputs: decision.inputs, journey: journey, contact: contact, now: now,
            stale: now.timeIntervalSince(trigger.recordedAt) > Double(staleAfterSeconds))
        for (index, action) in decision.actions {
            try await decided.record(action, index: index, state: state, firing: self, in: transaction)
        }
        let fired = ReactionEvent.ruleFired(
            .init(
                trigger: DecisionTrigger(
                    ruleId: rule.id, ruleVersion: rules.version, eventId: trigger.id, eventType: trigger.type, stream: trigger.streamName,
                    inputs: decision.inputs),
                outcomes: decided.outcomes, journey: journey, decidedAt: now, instance: instance))
        let metadata = EventMetadata(
            correlationId: journeyId, causationId: trigger.id.uuidString.lowercased(), actor: "rules", sourceSystem: "waymark",
            occurredAt: trigger.occurredAt, extra: ["rule.id": rule.id, "rule.version": rules.version])
        var events = [EventData(id: decided.firedId, type: fired.type, data: try fired.encode(with: codec, subject: nil), metadata: metadata)]
        for (id, event) in decided.events {
            events.append(EventData(id: id, type: event.type, data: try event.encode(with: codec, subject: customerId), metadata: metadata))
        }
        // Nothing decided here depends on the journey's version (feedback's rules read only the
        // answer), so a command another writer appends meanwhile goes before, not against it.
        try await transaction.append(to: stream, expected: .any, events: events)
        return .fired(journeyId: journeyId, events: events.count)
    }

    /// The journey an event is about: its declared journey field, its stream for a journey event,
    /// else its correlation id.
    private func journeyId(of trigger: RecordedEvent, fields: [String: RuleScalar]) -> String? {
        if let field = rules.events[trigger.type]?.journeyField, case .text(let id)? = fields[field], !id.isEmpty { return id }
        if trigger.category == JourneyDecider.category { return String(trigger.streamName.dropFirst(JourneyDecider.category.count + 1)) }
        return trigger.metadata.correlationId.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The customer's consent for a message, at request.
    func verdict(for message: RuleDecision.Message, contact: CustomerContact, at instant: Date, in transaction: Transaction) async throws -> ConsentVerdict {
        try await contact.consents(from: transaction, codec: codec).verdict(for: ConsentScope(purpose: message.purpose, channel: message.channel), at: instant)
    }
}

/// The events one firing records, built action by action, and what each action came to.
private struct Decided {
    let rule: Rule
    let ruleVersion: String
    let trigger: RecordedEvent
    let inputs: [String: String]
    let journey: NotificationEvent.JourneyContext
    let contact: CustomerContact
    let now: Date
    let stale: Bool
    var events: [(UUID, any DomainEvent)] = []
    var outcomes: [ReactionEvent.RuleFired.Outcome] = []

    init(
        rule: Rule, ruleVersion: String, trigger: RecordedEvent, inputs: [String: String], journey: NotificationEvent.JourneyContext,
        contact: CustomerContact, now: Date, stale: Bool
    ) {
        self.rule = rule
        self.ruleVersion = ruleVersion
        self.trigger = trigger
        self.inputs = inputs
        self.journey = journey
        self.contact = contact
        self.now = now
        self.stale = stale
    }

    var firedId: UUID { ReactionEvent.eventId(rule: rule.id, trigger: trigger.id, part: "fired") }
    var cause: NotificationEvent.Cause { NotificationEvent.Cause(eventId: firedId, kind: "rule", reference: "\(rule.id)@\(ruleVersion)") }

    func id(_ index: Int, _ part: String = "") -> UUID { ReactionEvent.eventId(rule: rule.id, trigger: trigger.id, part: "action-\(index)\(part)") }

    mutating func outcome(_ index: Int, _ outcome: String, _ eventId: UUID?) {
        outcomes.append(.init(action: rule.actions[index].name, outcome: outcome, eventId: eventId))
    }

    mutating func record(_ action: RuleDecision.Action, index: Int, state: JourneyState, firing: RuleFiring, in transaction: Transaction) async throws {
        switch action {
        case .recordCompensation(let owed):
            let event = ReactionEvent.compensationOwed(
                .init(
                    compensationId: "\(rule.id):\(trigger.id.uuidString.lowercased())", compensation: owed.compensation, amount: owed.amount,
                    currency: owed.currency, tier: journey.tier, ruleId: rule.id, ruleVersion: ruleVersion, triggerEventId: trigger.id, decidedAt: now))
            events.append((id(index), event))
            outcome(index, "recorded: \(owed.amount) \(owed.currency)", id(index))
        case .escalate(let role):
            // One per action: a rule may escalate to several roles, each acknowledged on its own.
            let raised = JourneyEvent.EscalationRaised(
                escalationId: "rule:\(rule.id):\(trigger.id.uuidString.lowercased()):\(index)", reason: .rule, goal: nil, level: 1, role: role,
                action: .notify, queueOwner: nil, audit: audit(firing, index: index))
            events.append((id(index), JourneyEvent.escalationRaised(raised)))
            if let request = raised.notificationRequest(eventId: id(index), journey: journey, locale: firing.locale) {
                events.append((NotificationEvent.requestEventId(notificationId: request.notificationId), NotificationEvent.requested(request)))
            }
            outcome(index, stale ? "raised (stale: nobody told)" : "raised", id(index))
        case .notifyCustomer(let message):
            try await notify(message, index: index, firing: firing, in: transaction)
        case .requestSurvey(let message, let window):
            let last = try await transaction.query("SELECT requested_at FROM rx_surveys WHERE subject_id = \(contact.subjectId)").first?.decode(
                Date.self, at: 0)
            if let last, trigger.occurredAt.timeIntervalSince(last) < Double(window), trigger.occurredAt >= last {
                outcome(index, "skipped: a survey was requested of the customer at \(TimestampText.iso8601(last))", nil)
                return
            }
            if let requested = try await notify(message, index: index, firing: firing, in: transaction) {
                try await transaction.execute(
                    """
                    INSERT INTO rx_surveys (subject_id, requested_at, notification_id) VALUES (\(contact.subjectId), \(trigger.occurredAt), \(requested))
                    ON CONFLICT (subject_id) DO UPDATE SET requested_at = greatest(rx_surveys.requested_at, excluded.requested_at),
                        notification_id = excluded.notification_id
                    """)
            }
        case .recordFeedback(let kind, let score, let channel):
            guard let kind = JourneyCommand.Feedback.Kind(rawValue: kind) else {
                outcome(index, "rejected: '\(kind)' is no feedback kind (csat, nps)", nil)
                return
            }
            guard let definition = state.definitionVersion.flatMap({ firing.definitions.catalog.definition(version: $0) }) else {
                outcome(index, "rejected: the journey's definition \(state.definitionVersion ?? "?") is not loaded", nil)
                return
            }
            let command = JourneyCommand.recordFeedback(.init(kind: kind, score: score, channel: channel))
            switch JourneyDecider.decide(state, command, definition: definition) {
            case .failure(let rejection):
                outcome(index, "rejected: \(rejection.code.name): \(rejection.message)", nil)
            case .success(let decided):
                for (offset, event) in decided.enumerated() { events.append((id(index, "-\(offset)"), event)) }
                outcome(index, "recorded", decided.isEmpty ? nil : id(index, "-0"))
            }
        }
    }

    /// A message to the customer, or its suppression at request; returns the notification's id
    /// when it was requested.
    @discardableResult
    mutating func notify(_ message: RuleDecision.Message, index: Int, firing: RuleFiring, in transaction: Transaction) async throws -> String? {
        if stale {
            outcome(index, "skipped: the event is older than the stale horizon", nil)
            return nil
        }
        let recipient = NotificationRecipient.customer(contact.subjectId)
        let notificationId = NotificationEvent.notificationId(cause: id(index), recipient: recipient, template: message.template)
        let eventId = NotificationEvent.requestEventId(notificationId: notificationId)
        switch try await firing.verdict(for: message, contact: contact, at: now, in: transaction) {
        case .denied(let reason, let decidedBy):
            events.append(
                (
                    eventId,
                    NotificationEvent.suppressed(
                        .init(
                            notificationId: notificationId, reason: reason, check: .atRequest, consentEventId: decidedBy, subjectId: contact.subjectId,
                            purpose: message.purpose, contactChannel: message.channel, template: message.template, cause: cause, decidedAt: now))
                ))
            outcome(index, "suppressed: \(reason.rawValue)", eventId)
            return nil
        case .permitted:
            events.append(
                (
                    eventId,
                    NotificationEvent.requested(
                        .init(
                            notificationId: notificationId, recipient: recipient, template: message.template, locale: firing.locale, purpose: message.purpose,
                            contactChannel: message.channel, variables: message.variables, cause: cause, journey: journey, requestedAt: now))
                ))
            outcome(index, "requested", eventId)
            return notificationId
        }
    }

    func audit(_ firing: RuleFiring, index: Int) -> DecisionAudit {
        DecisionAudit(
            rule: .reaction, deadlineId: "\(journey.journeyId)/rule/\(rule.id)/\(trigger.id.uuidString.lowercased())/\(index)",
            definitionVersion: journey.definitionVersion, stage: journey.stage, department: journey.department, tier: journey.tier,
            since: trigger.occurredAt, dueAt: trigger.occurredAt, decidedAt: max(now, trigger.occurredAt), stale: stale, instance: firing.instance,
            trigger: DecisionTrigger(
                ruleId: rule.id, ruleVersion: ruleVersion, eventId: trigger.id, eventType: trigger.type, stream: trigger.streamName, inputs: inputs))
    }
}
