import Foundation

/// The journey's rules: whether a command may happen now, under the definition the journey
/// started under, and which events record it.
public struct JourneyDecider: Decider {
    public static let category = "journey"

    /// The definition a command is decided under: for a start, the current one of its journey type;
    /// for every other command, the version the journey started under. Throws when none is known.
    public let definition: @Sendable (JourneyState, JourneyCommand) throws -> JourneyDefinition

    public init(definition: @escaping @Sendable (JourneyState, JourneyCommand) throws -> JourneyDefinition) {
        self.definition = definition
    }

    public var initialState: JourneyState { JourneyState() }

    /// `command` to journey `id`: a start that leaves out its journey id starts journey `id`.
    public static func normalized(_ command: JourneyCommand, on id: String) -> JourneyCommand {
        guard case .start(var start) = command, start.journeyId.isEmpty else { return command }
        start.journeyId = id
        return .start(start)
    }

    public func decide(_ command: JourneyCommand, on id: String, state: JourneyState) throws -> [JourneyEvent] {
        let command = Self.normalized(command, on: id)
        if case .start(let start) = command, start.journeyId != id {
            throw Rejection(.invalidInput, "the start command names journey \(start.journeyId), sent to \(id)")
        }
        return try Self.decide(state, command, definition: try definition(state, command)).get()
    }

    public func evolve(_ state: JourneyState, _ event: JourneyEvent, eventId: UUID) -> JourneyState { JourneyState.evolve(state, event) }

    public func fingerprint(of command: JourneyCommand, on id: String) -> String { CommandFingerprint.of(Self.normalized(command, on: id), to: id) }

    public func createsStream(_ command: JourneyCommand) -> Bool {
        if case .start = command { return true }
        return false
    }

    /// The journey's customer: feedback comments are theirs.
    public func subject(of id: String, after state: JourneyState) -> String? { state.customerId }

    /// The events `command` produces on `state`, or why it is refused. `definition` is the one the
    /// journey started under (for `.start`, the current one of the journey type).
    public static func decide(_ state: JourneyState, _ command: JourneyCommand, definition: JourneyDefinition) -> Result<[JourneyEvent], Rejection> {
        do {
            return .success(try events(state, command, definition))
        } catch let rejection as Rejection {
            return .failure(rejection)
        } catch {
            return .failure(Rejection(.invalidInput, "\(error)"))
        }
    }

    private static func events(_ state: JourneyState, _ command: JourneyCommand, _ definition: JourneyDefinition) throws -> [JourneyEvent] {
        if case .start(let start) = command { return try started(state, start, definition) }
        guard state.status != .notStarted else { throw Rejection(.journeyNotStarted, "the journey has not started") }
        guard state.definitionVersion == definition.version.description else {
            throw Rejection(
                .wrongDefinition,
                "the journey runs under definition \(state.definitionVersion ?? "?"), not \(definition.version) of \(definition.journeyType)")
        }
        let stage = state.stage ?? ""

        switch command {
        case .start:
            preconditionFailure("handled above")

        case .reachMilestone(let milestone):
            try requireOpen(state)
            try requireNotWaiting(state, "reach a milestone")
            guard let owner = definition.stage(ofMilestone: milestone) else {
                throw Rejection(.unknownMilestone, "milestone '\(milestone)' is not in the \(definition.journeyType) definition")
            }
            guard owner.id == stage else {
                throw Rejection(.milestoneNotInStage, "milestone '\(milestone)' belongs to stage \(owner.id); the journey is in \(stage)")
            }
            guard !state.milestonesInStage.contains(milestone) else {
                throw Rejection(.milestoneAlreadyReached, "milestone '\(milestone)' was already reached in this visit to \(stage)")
            }
            return [.milestoneReached(.init(milestone: milestone, stage: stage))]

        case .moveToStage(let target):
            try requireOpen(state)
            try requireNotWaiting(state, "move to another stage")
            let transition = try allowedTransition(from: stage, to: target, definition)
            if let handoff = transition.handoff {
                throw Rejection(
                    .handoffRequired,
                    "moving from \(stage) to \(target) hands the journey from \(handoff.fromDepartment) to \(handoff.toDepartment): request a handoff")
            }
            try requireNoPendingHandoff(state)
            return [.stageEntered(.init(stage: target, department: definition.stage(target)!.department, fromStage: stage))]

        case .requestHandoff(let target, let facts):
            try requireOpen(state)
            try requireNotWaiting(state, "request a handoff")
            let transition = try allowedTransition(from: stage, to: target, definition)
            guard let handoff = transition.handoff else {
                throw Rejection(.notAHandoff, "stages \(stage) and \(target) both belong to \(state.department ?? "?"): move to the stage instead")
            }
            try requireNoPendingHandoff(state)
            for (fact, value) in facts where fact.isEmpty || value.isEmpty {
                throw Rejection(.invalidInput, "a handoff fact needs a name and a value")
            }
            return [
                .handoffRequested(
                    .init(fromStage: stage, toStage: target, fromDepartment: handoff.fromDepartment, toDepartment: handoff.toDepartment, facts: facts))
            ]

        case .acceptHandoff(let by):
            try requireOpen(state)
            try requireText(by, "who accepts the handoff")
            guard let pending = state.pendingHandoff else { throw Rejection(.noPendingHandoff, "no handoff waits for acceptance") }
            let criteria = definition.transition(from: pending.fromStage, to: pending.toStage)?.handoff?.acceptanceCriteria ?? []
            let missing = criteria.filter { pending.facts[$0] == nil }
            guard missing.isEmpty else {
                throw Rejection(
                    .acceptanceCriteriaMissing,
                    "the handoff to \(pending.toDepartment) lacks \(missing.joined(separator: ", ")): reject it (rejectHandoff), then the sender can request it again with those facts"
                )
            }
            return [
                .handoffAccepted(.init(toStage: pending.toStage, by: by, reason: nil)),
                .stageEntered(.init(stage: pending.toStage, department: pending.toDepartment, fromStage: pending.fromStage)),
            ]

        case .rejectHandoff(let by, let reason):
            try requireOpen(state)
            try requireText(by, "who rejects the handoff")
            try requireText(reason, "the reason for the rejection")
            guard let pending = state.pendingHandoff else { throw Rejection(.noPendingHandoff, "no handoff waits for a decision") }
            return [.handoffRejected(.init(toStage: pending.toStage, by: by, reason: reason))]

        case .waitOnCustomer(let reason):
            try requireOpen(state)
            try requireText(reason, "what the journey waits for")
            guard state.status != .waitingOnCustomer else { throw Rejection(.alreadyWaitingOnCustomer, "the journey already waits on the customer") }
            return [.waitingOnCustomer(.init(reason: reason))]

        case .resume:
            try requireOpen(state)
            guard state.status == .waitingOnCustomer else { throw Rejection(.notWaitingOnCustomer, "the journey does not wait on the customer") }
            return [.resumed(.init(reason: nil))]

        case .reassignOwner(let owner):
            try requireOpen(state)
            try requireText(owner, "the new owner")
            guard owner != state.owner else { throw Rejection(.sameOwner, "\(owner) already owns the journey") }
            return [.ownerReassigned(.init(from: state.owner, to: owner))]

        case .complete:
            try requireOpen(state)
            try requireNotWaiting(state, "complete")
            try requireNoPendingHandoff(state)
            return [.completed(.init(stage: stage))]

        case .cancel(let reason):
            try requireOpen(state)
            try requireText(reason, "the reason for cancelling")
            var owed: [String] = []
            for milestone in state.milestones {
                if let compensation = definition.compensation(for: milestone), !owed.contains(compensation) { owed.append(compensation) }
            }
            return [.cancelled(.init(reason: reason, compensationsOwed: owed))]

        case .recordCompensation(let compensation):
            guard state.status == .cancelled, state.compensationsOwed.contains(compensation), !state.compensationsDone.contains(compensation) else {
                let owed = state.compensationsOwed.filter { !state.compensationsDone.contains($0) }
                throw Rejection(
                    .compensationNotOwed,
                    "compensation '\(compensation)' is not owed; outstanding: \(owed.isEmpty ? "none" : owed.joined(separator: ", "))")
            }
            return [.compensationRecorded(.init(compensation: compensation))]

        case .recordFeedback(let feedback):
            guard feedback.kind.range.contains(feedback.score) else {
                throw Rejection(
                    .scoreOutOfRange,
                    "a \(feedback.kind.rawValue.uppercased()) score is \(feedback.kind.range.lowerBound) to \(feedback.kind.range.upperBound), not \(feedback.score)"
                )
            }
            try requireText(feedback.channel, "the feedback channel")
            return [.feedbackReceived(feedback)]

        case .acknowledgeEscalation(let escalationId, let by, let note):
            try requireText(by, "who acknowledges the escalation")
            if state.acknowledgedEscalations.contains(escalationId) {
                throw Rejection(.escalationAlreadyAcknowledged, "escalation \(escalationId) was already acknowledged")
            }
            guard state.openEscalations.contains(escalationId) else {
                let open = state.openEscalations
                throw Rejection(
                    .unknownEscalation, "no escalation \(escalationId) on this journey; open: \(open.isEmpty ? "none" : open.joined(separator: ", "))")
            }
            return [.escalationAcknowledged(.init(escalationId: escalationId, by: by, note: note))]
        }
    }

    private static func started(_ state: JourneyState, _ start: JourneyCommand.Start, _ definition: JourneyDefinition) throws -> [JourneyEvent] {
        guard state.status == .notStarted else { throw Rejection(.journeyAlreadyStarted, "journey \(state.journeyId ?? start.journeyId) has already started") }
        try requireText(start.journeyId, "the journey id")
        try requireText(start.customerId, "the customer id")
        guard definition.journeyType == start.journeyType else {
            throw Rejection(.wrongDefinition, "a \(start.journeyType) journey cannot start under the \(definition.journeyType) definition")
        }
        guard definition.tiers.contains(start.tier) else {
            throw Rejection(.unknownTier, "tier '\(start.tier)' is not one of \(definition.tiers.joined(separator: ", ")) for \(definition.journeyType)")
        }
        let first = definition.stages[0]
        return [
            .started(
                .init(
                    journeyId: start.journeyId, customerId: start.customerId, journeyType: start.journeyType,
                    definitionVersion: definition.version.description, tier: start.tier, stage: first.id, department: first.department,
                    externalProcessId: start.externalProcessId, owner: start.owner))
        ]
    }

    private static func allowedTransition(from stage: String, to target: String, _ definition: JourneyDefinition) throws -> JourneyDefinition.Transition {
        guard definition.stage(target) != nil else {
            throw Rejection(.unknownStage, "stage '\(target)' is not in the \(definition.journeyType) definition")
        }
        guard let transition = definition.transition(from: stage, to: target) else {
            let allowed = definition.transitions.filter { $0.from == stage }.map(\.to)
            throw Rejection(
                .transitionNotAllowed,
                "the definition allows no transition from \(stage) to \(target); from \(stage): \(allowed.isEmpty ? "none" : allowed.joined(separator: ", "))")
        }
        return transition
    }

    private static func requireOpen(_ state: JourneyState) throws {
        guard !state.isClosed else { throw Rejection(.journeyClosed, "the journey is \(state.status.rawValue)") }
    }

    private static func requireNotWaiting(_ state: JourneyState, _ action: String) throws {
        guard state.status != .waitingOnCustomer else { throw Rejection(.waitingOnCustomer, "the journey waits on the customer: resume it to \(action)") }
    }

    private static func requireNoPendingHandoff(_ state: JourneyState) throws {
        if let pending = state.pendingHandoff {
            throw Rejection(.handoffAlreadyPending, "a handoff from \(pending.fromDepartment) to \(pending.toDepartment) waits for a decision")
        }
    }

    private static func requireText(_ text: String, _ what: String) throws {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw Rejection(.invalidInput, "\(what) must not be empty") }
    }
}
