import Foundation
import WaymarkClient
import WaymarkDomain

/// One command of a simulated journey, when it happens and under which command id.
public struct ScriptedCommand: Sendable {
    public var command: JourneyCommand
    public var occurredAt: Date
    public var commandId: UUID
    public var actor: String
    public var sourceSystem: String
}

/// How a simulated journey ends.
public enum JourneyFate: String, Sendable, CaseIterable {
    case completed, cancelled, stalled
    /// Still running when the simulated period ends.
    case inProgress = "in-progress"
}

/// The commands of one simulated journey, in order.
public struct JourneyScript: Sendable {
    public var journeyId: String
    public var customerId: String
    public var journeyType: String
    public var tier: String
    public var fate: JourneyFate
    public var commands: [ScriptedCommand]
    /// Events of other systems on the journey's stream (appended raw, as integrations do).
    public var integrationEvents: [IntegrationEvent] = []
}

/// An event of an integrated system (a shipment delayed, a support case closed) that the domain
/// does not model, appended right after command `afterCommand` of the journey.
public struct IntegrationEvent: Sendable {
    public var afterCommand: Int
    public var id: UUID
    public var type: String
    public var data: String
    public var occurredAt: Date
    public var sourceSystem: String
    /// The stream it goes on, named in full (`shipment-SO-1`); nil: the journey's own stream.
    public var stream: String? = nil
    /// Its correlation id; nil: the journey's id.
    public var correlationId: String? = nil
    public var actor: String? = nil
}

/// Writes journeys the way the departments would live them: through the stages of a definition,
/// milestone by milestone, handing off between departments (now and then with a fact missing, so
/// the receiver rejects and the sender asks again, or accepts while the journey waits on the
/// customer), waiting on the customer, reassigning owners,
/// going back a stage for rework, and ending completed (with feedback), cancelled (with the
/// compensations done; sometimes while waiting on the customer) or stalled. Every command is decided on the way with the domain's own
/// rules, so a script is always accepted by a client deciding under the same definitions.
struct JourneyScripter {
    let definitions: [JourneyDefinition]
    let typeWeights: [(String, Double)]
    let until: Date

    init(catalog: JourneyCatalog, journeyTypes: [String], until: Date) {
        definitions = journeyTypes.compactMap { catalog.current($0) }
        let weights: [String: Double] = ["new-business": 25, "order-to-cash": 30, "support-case": 30, "renewal": 15]
        typeWeights = definitions.map { ($0.journeyType, weights[$0.journeyType] ?? 20) }
        self.until = until
    }

    /// The script of journey `journeyId`, started at `start` for `customer`; `random` decides all.
    func script(journeyId: String, customer: SimulatedCustomer, start: Date, random: inout SeededGenerator) -> JourneyScript {
        let journeyType = random.weighted(typeWeights)
        let definition = definitions.first { $0.journeyType == journeyType }!
        let tier = definition.tiers.contains(customer.tier) ? customer.tier : definition.tiers[0]
        var writer = ScriptWriter(definition: definition, journeyId: journeyId, now: start, until: until, random: random)
        let (hour, day) = (writer.day / 24, writer.day)
        let fate = random.weighted([(JourneyFate.completed, 0.72), (.cancelled, 0.12), (.stalled, 0.16)])
        // Where a cancelled or stalled journey stops: a stage, and how far into its milestones.
        let stopStage = Int.random(in: 0..<definition.stages.count, using: &random)
        writer.emit(
            .start(
                .init(
                    journeyId: journeyId, customerId: customer.id, journeyType: journeyType, tier: tier,
                    externalProcessId: "\(Owners.originSystem(of: journeyType).uppercased())-\(Int.random(in: 100_000...999_999, using: &random))",
                    owner: Owners.pick(definition.stages[0].department, &writer.random))), after: 0)
        var reworks = 0
        walk: while !writer.ended {
            let stage = definition.stage(writer.state.stage!)!
            let stageIndex = definition.stages.firstIndex(of: stage)!
            let stopping = fate != .completed && stageIndex == stopStage
            let stopAfter = stopping ? Int.random(in: 0...stage.milestones.count, using: &writer.random) : Int.max
            let gap = Double(stage.maxDwell?.seconds ?? Int64(day)) / Double(stage.milestones.count + 1)
            for (index, milestone) in stage.milestones.enumerated() {
                if index == stopAfter { break walk }
                if writer.random.chance(0.06) {
                    writer.emit(.waitOnCustomer(reason: Reasons.waiting.randomElement(using: &writer.random)!), after: gap * 0.3)
                    writer.emit(.resume, after: Double.random(in: hour...(3 * day), using: &writer.random))
                }
                writer.emit(.reachMilestone(milestone), after: gap * Double.random(in: 0.3...1.8, using: &writer.random))
                if writer.random.chance(0.04) {
                    writer.emit(.reassignOwner(to: Owners.pick(stage.department, &writer.random, not: writer.state.owner)), after: hour / 2)
                }
            }
            if stopping {
                if fate == .cancelled { writer.requestHandoffLeftPending(from: stage) }
                break walk
            }
            let onward = definition.transitions.filter { $0.from == stage.id }
            let forward = onward.filter { next in definition.stages.firstIndex { $0.id == next.to }! > stageIndex }
            let backward = onward.filter { next in definition.stages.firstIndex { $0.id == next.to }! < stageIndex }
            guard !forward.isEmpty else { break walk }
            let transition: JourneyDefinition.Transition
            if !backward.isEmpty, reworks < 2, writer.random.chance(0.1) {
                transition = backward.randomElement(using: &writer.random)!
                reworks += 1
            } else {
                transition = forward.randomElement(using: &writer.random)!
            }
            writer.move(along: transition, gap: gap)
        }
        switch fate {
        case .completed where !writer.ended:
            writer.emit(.complete, after: hour)
            if writer.random.chance(0.7) {
                let score = writer.random.weighted([(5, 0.36), (4, 0.32), (3, 0.14), (2, 0.1), (1, 0.08)])
                let comment = writer.random.chance(0.3) ? PersonalData(Reasons.comments[score - 1]) : nil
                writer.emit(.recordFeedback(.init(kind: .csat, score: score, channel: "email-survey", comment: comment)), after: day)
            }
            if writer.random.chance(0.3) {
                let score = writer.random.weighted([(10, 0.2), (9, 0.25), (8, 0.2), (7, 0.12), (6, 0.08), (5, 0.05), (3, 0.05), (0, 0.05)])
                writer.emit(.recordFeedback(.init(kind: .nps, score: score, channel: "in-app")), after: 7 * day)
            }
        case .cancelled where !writer.ended:
            // Many cancellations follow a wait on a customer who went quiet: the clocks stop paused.
            if writer.random.chance(0.3) {
                writer.emit(.waitOnCustomer(reason: Reasons.waiting.randomElement(using: &writer.random)!), after: 4 * hour)
            }
            writer.emit(.cancel(reason: Reasons.cancelling.randomElement(using: &writer.random)!), after: day)
            for compensation in writer.state.compensationsOwed where writer.random.chance(0.9) {
                writer.emit(.recordCompensation(compensation), after: Double.random(in: hour...(5 * day), using: &writer.random))
            }
        case .stalled where !writer.ended && writer.random.chance(0.5) && writer.state.pendingHandoff == nil:
            writer.emit(.waitOnCustomer(reason: Reasons.waiting.randomElement(using: &writer.random)!), after: day)
        default:
            break
        }
        random = writer.random
        return JourneyScript(
            journeyId: journeyId, customerId: customer.id, journeyType: journeyType, tier: tier, fate: writer.ended ? .inProgress : fate,
            commands: writer.commands)
    }
}

/// Builds one script: decides each command on the state so far and keeps only what the domain
/// accepts; stops once the simulated period is over.
private struct ScriptWriter {
    let definition: JourneyDefinition
    let journeyId: String
    var now: Date
    let until: Date
    var random: SeededGenerator
    var state = JourneyState()
    var commands: [ScriptedCommand] = []
    /// The simulated period ended: the journey is still running.
    var ended = false
    /// What a day is to this journey type: a calendar day for types whose stages last days or
    /// more, shorter for a type whose stages last minutes (the demo's), so that its waits, surveys
    /// and cancellations come in proportion.
    var day: Double {
        let shortest = Double(definition.stages.compactMap { $0.maxDwell?.seconds }.min() ?? 86_400)
        return shortest >= 3_600 ? 86_400 : 4 * shortest
    }

    init(definition: JourneyDefinition, journeyId: String, now: Date, until: Date, random: SeededGenerator) {
        self.definition = definition
        self.journeyId = journeyId
        self.now = now
        self.until = until
        self.random = random
    }

    mutating func emit(_ command: JourneyCommand, after seconds: Double) {
        guard !ended else { return }
        let at = now.addingTimeInterval(seconds.rounded())
        guard at <= until else {
            ended = true
            return
        }
        guard case .success(let events) = JourneyDecider.decide(state, command, definition: definition) else { return }
        now = at
        state = events.reduce(state, JourneyState.evolve)
        let department = state.department ?? definition.stages[0].department
        commands.append(
            ScriptedCommand(
                command: command, occurredAt: at, commandId: random.uuid(), actor: state.owner ?? Owners.pick(department, &random),
                sourceSystem: Owners.system(of: department)))
    }

    /// Now and then a journey about to be cancelled has handed off to the next department, which
    /// has not decided yet: the cancel finds the handoff pending. Its own generator, so that the
    /// rest of the script draws as before.
    mutating func requestHandoffLeftPending(from stage: JourneyDefinition.Stage) {
        var draw = SeededGenerator(seed: random.next(), salt: 6, index: commands.count)
        guard draw.chance(0.3),
            let transition = definition.transitions.first(where: { $0.from == stage.id && $0.handoff != nil }),
            let handoff = transition.handoff
        else { return }
        let facts = Dictionary(uniqueKeysWithValues: handoff.acceptanceCriteria.map { ($0, "\($0)-\(Int.random(in: 1...999, using: &draw))") })
        emit(.requestHandoff(toStage: transition.to, facts: facts), after: day / 24 * Double.random(in: 1...8, using: &draw))
    }

    /// Moves to the transition's stage: directly within a department, through a handoff across.
    mutating func move(along transition: JourneyDefinition.Transition, gap: Double) {
        guard let handoff = transition.handoff else {
            emit(.moveToStage(transition.to), after: gap * 0.5)
            return
        }
        var facts = Dictionary(uniqueKeysWithValues: handoff.acceptanceCriteria.map { ($0, "\($0)-\(Int.random(in: 1...999, using: &random))") })
        let receiver = Owners.pick(handoff.toDepartment, &random)
        let olaSeconds = Double(handoff.ola?.seconds ?? Int64(day))
        if let missing = handoff.acceptanceCriteria.randomElement(using: &random), random.chance(0.12) {
            var incomplete = facts
            incomplete[missing] = nil
            emit(.requestHandoff(toStage: transition.to, facts: incomplete), after: gap * 0.5)
            emit(.rejectHandoff(by: receiver, reason: "\(missing) is missing"), after: olaSeconds * Double.random(in: 0.1...0.8, using: &random))
            facts[missing] = "\(missing)-supplied"
        }
        emit(.requestHandoff(toStage: transition.to, facts: facts), after: gap * 0.3)
        // Now and then the sender waits on the customer while the receiver accepts: the journey
        // enters the stage (a goal's stop point, sometimes) paused, and resumes there later.
        let acceptedWhileWaiting = random.chance(0.04)
        if acceptedWhileWaiting { emit(.waitOnCustomer(reason: Reasons.waiting.randomElement(using: &random)!), after: olaSeconds * 0.02) }
        emit(.acceptHandoff(by: receiver), after: olaSeconds * Double.random(in: 0.05...1.6, using: &random))
        if acceptedWhileWaiting { emit(.resume, after: Double.random(in: (day / 24)...(2 * day), using: &random)) }
    }
}
