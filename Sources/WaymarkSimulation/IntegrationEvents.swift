import Foundation
import WaymarkDomain

/// The events of the systems around the journeys that the rules on integration events react to
/// (`config/rules.yaml`): the ERP reporting a shipment delayed, the support desk closing a case, the
/// survey tool passing on a customer's answer. Each goes on a stream of its system (`shipment-<order>`,
/// `support-<case>`, `survey-<survey>`) with the journey as correlation id, appended raw through
/// `client.append` as a real integration would. Besides the usual traffic, the odd inputs a rule
/// must survive: a second, longer delay on the same order, a delay reported after the journey
/// completed, a delay on an order Waymark never saw (its `journeyId` names no journey), a case
/// closed after the journey was cancelled, a second answer to the same survey.
///
/// Each draws from generators of its own (salts 10 to 12), so the rest of the simulation draws as
/// before.
extension Simulator {
    enum IntegrationRates {
        /// Order-to-cash journeys that reach fulfilment and get a delay reported while there.
        static let shipmentDelayed = 0.4
        /// Of those, a second, longer delay on the same order.
        static let secondDelay = 0.2
        /// Completed order-to-cash journeys whose ERP reports a delay after the fact.
        static let delayAfterCompletion = 0.06
        /// One journey (of any type) in this many has beside it a delay the ERP reports on an order
        /// Waymark never saw: by position, not by chance, so that every run of some size has one.
        static let unknownOrderEvery = 100
        /// Cancelled support cases the desk closes too.
        static let closedWhenCancelled = 0.4
        /// Closed cases (not duplicates) whose customer answers the CSAT survey.
        static let surveyAnswered = 0.5
        /// Of those answers, a second answer to the same survey.
        static let secondAnswer = 0.1
    }

    /// The source systems and actors of the events, as the rules and the audit see them.
    enum IntegrationSource {
        static let erp = (system: "erp", actor: "erp-sync")
        static let supportDesk = (system: "support-desk", actor: "support-desk-sync")
        static let surveyTool = (system: "survey-tool", actor: "survey-tool-sync")
    }

    /// Adds the shipment, support and survey events of journey `index` to its script.
    static func addRuleTriggers(to script: inout JourneyScript, journey index: Int, _ options: SimulationOptions, definition: JourneyDefinition?) {
        guard let definition, !script.commands.isEmpty else { return }
        let timeline = ScriptTimeline(script: script, definition: definition, until: options.until)
        var added: [IntegrationEvent] = []
        switch script.journeyType {
        case "order-to-cash":
            var random = SeededGenerator(seed: options.seed, salt: 10, index: index)
            let orderId = timeline.externalProcessId ?? "SO-\(tag(options.seed))-\(index)"
            added += shipmentDelays(timeline, journeyId: script.journeyId, orderId: orderId, &random)
        case "support-case":
            var random = SeededGenerator(seed: options.seed, salt: 11, index: index)
            let caseId = timeline.externalProcessId ?? "CASE-\(tag(options.seed))-\(index)"
            added += supportCaseClosed(timeline, journeyId: script.journeyId, caseId: caseId, &random)
        default:
            break
        }
        var random = SeededGenerator(seed: options.seed, salt: 12, index: index)
        if index % IntegrationRates.unknownOrderEvery == Int(options.seed % UInt64(IntegrationRates.unknownOrderEvery)) {
            // The ERP's own id for a journey it thinks exists; Waymark has none under it.
            let at = timeline.moment(in: 0, &random)
            let promised = at.addingTimeInterval(Double(Int.random(in: 1...5, using: &random)) * 86_400)
            let delay = ShipmentDelayed(
                journeyId: "\(tag(options.seed))-erp-\(index)", orderId: "SO-\(tag(options.seed))-erp-\(index)", delayHours: delayHours(&random),
                at: at, promised: promised)
            added.append(delay.event(afterCommand: 0, at: at, &random))
        }
        // In the order the systems report them, so that a stream's versions follow its times.
        let ordered = (script.integrationEvents + added).enumerated().sorted {
            ($0.element.afterCommand, $0.element.occurredAt, $0.offset) < ($1.element.afterCommand, $1.element.occurredAt, $1.offset)
        }
        script.integrationEvents = ordered.map(\.element)
    }

    /// A delay while the order is in fulfilment (now and then a second, longer one), and now and
    /// then one reported after the journey completed.
    static func shipmentDelays(_ timeline: ScriptTimeline, journeyId: String, orderId: String, _ random: inout SeededGenerator) -> [IntegrationEvent] {
        var events: [IntegrationEvent] = []
        let inFulfilment = timeline.states.indices.filter { timeline.states[$0].department == "fulfilment" && timeline.isOpen(after: $0) }
        var lastHours = 0
        // The delivery date the customer was promised, some days after the order reached fulfilment.
        let promised = (inFulfilment.first.map { timeline.commands[$0].occurredAt } ?? timeline.commands[0].occurredAt)
            .addingTimeInterval(Double(Int.random(in: 2...6, using: &random)) * 86_400)
        if let first = inFulfilment.randomElement(using: &random), random.chance(IntegrationRates.shipmentDelayed) {
            let at = timeline.moment(in: first, &random)
            lastHours = delayHours(&random)
            events.append(
                ShipmentDelayed(journeyId: journeyId, orderId: orderId, delayHours: lastHours, at: at, promised: promised).event(
                    afterCommand: first, at: at, &random))
            if random.chance(IntegrationRates.secondDelay), let second = inFulfilment.filter({ $0 >= first }).randomElement(using: &random) {
                let later = timeline.moment(in: second, after: at, &random)
                lastHours += Int.random(in: 6...48, using: &random)
                events.append(
                    ShipmentDelayed(journeyId: journeyId, orderId: orderId, delayHours: lastHours, at: later, promised: promised).event(
                        afterCommand: second, at: later, &random))
            }
        }
        if let completed = timeline.index(of: .complete), random.chance(IntegrationRates.delayAfterCompletion) {
            let at = timeline.commands[completed].occurredAt.addingTimeInterval(Double.random(in: 7_200...(3 * 86_400), using: &random).rounded())
            let hours = max(lastHours + 1, delayHours(&random))
            if at <= timeline.until {
                let after = timeline.lastCommand(atOrBefore: at, from: completed)
                events.append(
                    ShipmentDelayed(journeyId: journeyId, orderId: orderId, delayHours: hours, at: at, promised: promised).event(
                        afterCommand: after, at: at, &random))
            }
        }
        return events
    }

    /// Mostly 4 to 72 hours; some reports of no delay after all, some of more than five days.
    static func delayHours(_ random: inout SeededGenerator) -> Int {
        switch random.weighted([(0, 0.07), (1, 0.79), (2, 0.04), (3, 0.1)]) {
        case 0: return 0
        case 1: return Int.random(in: 4...72, using: &random)
        case 2: return Int.random(in: 73...120, using: &random)
        default: return Int.random(in: 121...336, using: &random)
        }
    }

    /// The desk closes a completed case minutes to hours later (and now and then a cancelled one);
    /// some customers answer the CSAT survey, hours to days after.
    static func supportCaseClosed(_ timeline: ScriptTimeline, journeyId: String, caseId: String, _ random: inout SeededGenerator) -> [IntegrationEvent] {
        let resolution: String
        let ended: Int
        if let completed = timeline.index(of: .complete) {
            ended = completed
            resolution = random.weighted([("resolved", 0.75), ("workaround", 0.2), ("duplicate", 0.05)])
        } else if let cancelled = timeline.commands.firstIndex(where: { if case .cancel = $0.command { true } else { false } }),
            random.chance(IntegrationRates.closedWhenCancelled)
        {
            ended = cancelled
            let duplicate = timeline.commands[cancelled].command == .cancel(reason: "duplicate request")
            resolution = duplicate ? "duplicate" : "workaround"
        } else {
            return []
        }
        let closedAt = timeline.commands[ended].occurredAt.addingTimeInterval(Double.random(in: 300...(4 * 3_600), using: &random).rounded())
        guard closedAt <= timeline.until else { return [] }
        let closed = SupportCaseClosed(journeyId: journeyId, caseId: caseId, resolution: resolution)
        var events = [closed.event(afterCommand: timeline.lastCommand(atOrBefore: closedAt, from: ended), at: closedAt, &random)]
        guard resolution != "duplicate", random.chance(IntegrationRates.surveyAnswered) else { return events }
        var answeredAt = closedAt
        for answer in 0..<2 {
            guard answer == 0 || random.chance(IntegrationRates.secondAnswer) else { break }
            answeredAt = answeredAt.addingTimeInterval(Double.random(in: 3_600...(5 * 86_400), using: &random).rounded())
            guard answeredAt <= timeline.until else { break }
            let score = random.weighted([(5, 0.42), (4, 0.3), (3, 0.12), (2, 0.09), (1, 0.07)])
            let survey = SurveyAnswered(journeyId: journeyId, surveyId: "csat-\(caseId)", kind: "csat", score: score, channel: "email")
            events.append(survey.event(afterCommand: timeline.lastCommand(atOrBefore: answeredAt, from: ended), at: answeredAt, &random))
        }
        return events
    }
}

/// A script's commands with the journey's state after each, and the windows between them.
struct ScriptTimeline {
    let commands: [ScriptedCommand]
    let states: [JourneyState]
    let until: Date

    init(script: JourneyScript, definition: JourneyDefinition, until: Date) {
        commands = script.commands
        var state = JourneyState()
        states = script.commands.map { step in
            if case .success(let events) = JourneyDecider.decide(state, step.command, definition: definition) {
                state = events.reduce(state, JourneyState.evolve)
            }
            return state
        }
        self.until = until
    }

    var externalProcessId: String? { states.first?.externalProcessId }

    /// The first command that is `command`.
    func index(of command: JourneyCommand) -> Int? { commands.firstIndex { $0.command == command } }

    /// The journey is still running after command `index`.
    func isOpen(after index: Int) -> Bool { states[index].status == .active || states[index].status == .waitingOnCustomer }

    /// A time between command `index` and the next (the period's end after the last), later than
    /// `after` when given.
    func moment(in index: Int, after: Date? = nil, _ random: inout SeededGenerator) -> Date {
        let from = max(commands[index].occurredAt, after ?? .distantPast)
        let to = max(from, index + 1 < commands.count ? commands[index + 1].occurredAt : until)
        return from.addingTimeInterval((to.timeIntervalSince(from) * Double.random(in: 0..<1, using: &random)).rounded(.down))
    }

    /// The last command at or before `at`, `from` or later: the one the event is appended after.
    func lastCommand(atOrBefore at: Date, from: Int) -> Int {
        commands.indices.last { $0 >= from && commands[$0].occurredAt <= at } ?? from
    }
}

/// `ShipmentDelayed` on `shipment-<orderId>`, from the ERP.
struct ShipmentDelayed: Encodable {
    var journeyId: String
    var orderId: String
    var delayHours: Int
    /// The date the order now arrives (UTC): the one promised plus the delay, where a promise
    /// already past when reported counts from the day after the report.
    var newDeliveryDate: String

    init(journeyId: String, orderId: String, delayHours: Int, at: Date, promised: Date) {
        self.journeyId = journeyId
        self.orderId = orderId
        self.delayHours = delayHours
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        let base = max(promised, at.addingTimeInterval(86_400))
        newDeliveryDate = formatter.string(from: base.addingTimeInterval(Double(delayHours) * 3_600))
    }

    func event(afterCommand: Int, at: Date, _ random: inout SeededGenerator) -> IntegrationEvent {
        IntegrationEvent(
            afterCommand: afterCommand, id: random.uuid(), type: "ShipmentDelayed", data: integrationJSON(self), occurredAt: at,
            sourceSystem: Simulator.IntegrationSource.erp.system, stream: "shipment-\(orderId)", correlationId: journeyId,
            actor: Simulator.IntegrationSource.erp.actor)
    }
}

/// `SupportCaseClosed` on `support-<caseId>`, from the support desk.
struct SupportCaseClosed: Encodable {
    var journeyId: String
    var caseId: String
    /// resolved, workaround or duplicate.
    var resolution: String

    func event(afterCommand: Int, at: Date, _ random: inout SeededGenerator) -> IntegrationEvent {
        IntegrationEvent(
            afterCommand: afterCommand, id: random.uuid(), type: "SupportCaseClosed", data: integrationJSON(self), occurredAt: at,
            sourceSystem: Simulator.IntegrationSource.supportDesk.system, stream: "support-\(caseId)", correlationId: journeyId,
            actor: Simulator.IntegrationSource.supportDesk.actor)
    }
}

/// `SurveyAnswered` on `survey-<surveyId>`, from the survey tool.
struct SurveyAnswered: Encodable {
    var journeyId: String
    /// `csat-<caseId>`.
    var surveyId: String
    var kind: String
    /// 1 to 5.
    var score: Int
    var channel: String

    func event(afterCommand: Int, at: Date, _ random: inout SeededGenerator) -> IntegrationEvent {
        IntegrationEvent(
            afterCommand: afterCommand, id: random.uuid(), type: "SurveyAnswered", data: integrationJSON(self), occurredAt: at,
            sourceSystem: Simulator.IntegrationSource.surveyTool.system, stream: "survey-\(surveyId)", correlationId: journeyId,
            actor: Simulator.IntegrationSource.surveyTool.actor)
    }
}

/// The JSON of an event body of strings and integers, keys sorted.
private func integrationJSON(_ payload: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // Strings and integers always encode; a failure here is a programming error.
    guard let data = try? encoder.encode(payload) else { preconditionFailure("an integration event body failed to encode") }
    return String(decoding: data, as: UTF8.self)
}

extension SimulationCounts {
    /// The integration events appended, by type: `12 ShipmentDelayed, 30 SupportCaseClosed, …`.
    public var integrationSummary: String {
        integrationEvents.isEmpty ? "none" : integrationEvents.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
    }
}
