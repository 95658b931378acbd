import Foundation
import WaymarkDomain

/// A journey's SLA and OLA clocks as the SLA projection folds them, stored whole in the row of its
/// `journeys` table. The goals come from the definition version the journey started under (per
/// goal name the first goal listing its tier, else that name's default); an OLA clock runs from a
/// handoff's request until it is decided.
///
/// Public so that the process manager derives its SLA deadlines from the same fold as the SLA
/// view, event by event.
public struct SLAClockFold: Sendable, Equatable, Codable {
    public var journeyId: String
    /// The customer whose tier the goals follow (the survivor after a merge).
    public var customerId: String
    public var journeyType: String
    public var definitionVersion: String
    public var tier: String
    public var department: String
    public var waiting = false
    public var ended = false
    public var handoffCount = 0
    public var clocks: [SLAClock] = []
    /// Goals whose start point has not come yet.
    public var pendingGoals: [String] = []

    /// What a fold needs beside its events: the definitions and the calendars' timelines.
    public struct Context: Sendable {
        public let catalog: JourneyCatalog
        public let timelines: [String: BusinessTimeline]

        public init(catalog: JourneyCatalog, timelines: [String: BusinessTimeline]) {
            self.catalog = catalog
            self.timelines = timelines
        }

        public func timeline(_ calendar: String?) -> BusinessTimeline? { calendar.flatMap { timelines[$0] } }

        /// `duration` in business seconds of `calendar` (a `d` is one of its business days).
        public func seconds(_ duration: BusinessDuration, in calendar: String?) -> Int64 {
            duration.businessSeconds(in: calendar.flatMap { catalog.calendars[$0] })
        }
    }

    /// A fold as stored, its clocks still to be added.
    public init(
        journeyId: String, customerId: String, journeyType: String, definitionVersion: String, tier: String, department: String, waiting: Bool,
        ended: Bool, handoffCount: Int, pendingGoals: [String]
    ) {
        self.journeyId = journeyId
        self.customerId = customerId
        self.journeyType = journeyType
        self.definitionVersion = definitionVersion
        self.tier = tier
        self.department = department
        self.waiting = waiting
        self.ended = ended
        self.handoffCount = handoffCount
        self.pendingGoals = pendingGoals
    }

    public init(_ started: JourneyEvent.Started, at: Date, context: Context) {
        journeyId = started.journeyId
        customerId = started.customerId
        journeyType = started.journeyType
        definitionVersion = started.definitionVersion
        tier = started.tier
        department = started.department
        let goals = context.catalog.definition(version: started.definitionVersion)?.slaGoals(forTier: started.tier) ?? []
        pendingGoals = goals.map(\.name)
        startGoals(at: at, context: context) { $0 == .journeyStarted }
    }

    public mutating func apply(_ event: JourneyEvent, at: Date, context: Context) {
        switch event {
        case .started, .milestoneReached, .compensationRecorded, .feedbackReceived, .ownerReassigned, .stalled, .slaThresholdCrossed, .slaBreached,
            .escalationRaised, .escalationAcknowledged, .priorityRaised:
            return
        default:
            break
        }
        advance(to: at, context: context)
        switch event {
        case .stageEntered(let entered):
            department = entered.department
            for index in clocks.indices where clocks[index].kind == .sla && goal(of: clocks[index], context)?.stop == .stageEntered(entered.stage) {
                clocks[index].stop(at: at, cancelled: false, timeline: context.timeline(clocks[index].calendar))
            }
            startGoals(at: at, context: context) { $0 == .stageEntered(entered.stage) }
        case .handoffRequested(let requested):
            handoffCount += 1
            let handoff = context.catalog.definition(version: definitionVersion)?.transition(from: requested.fromStage, to: requested.toStage)?.handoff
            guard let handoff, let ola = handoff.ola else { return }
            var clock = SLAClock(
                kind: .ola, name: "handoff-\(handoffCount)", calendar: handoff.calendar, targetSeconds: context.seconds(ola, in: handoff.calendar),
                pausesWhileWaiting: false, tier: tier,
                at: at, timeline: context.timeline(handoff.calendar))
            clock.handoffNumber = handoffCount
            clock.fromDepartment = requested.fromDepartment
            clock.toDepartment = requested.toDepartment
            clock.outcome = "pending"
            clocks.append(clock)
        case .handoffAccepted, .handoffRejected:
            let outcome: String
            if case .handoffAccepted = event { outcome = "accepted" } else { outcome = "rejected" }
            for index in clocks.indices where clocks[index].kind == .ola && clocks[index].isOpen {
                clocks[index].outcome = outcome
                clocks[index].stop(at: at, cancelled: false, timeline: context.timeline(clocks[index].calendar))
            }
        case .waitingOnCustomer:
            waiting = true
            for index in clocks.indices where clocks[index].pausesWhileWaiting { clocks[index].pause(at: at) }
        case .resumed:
            waiting = false
            for index in clocks.indices { clocks[index].resume(at: at, timeline: context.timeline(clocks[index].calendar)) }
        case .completed, .cancelled:
            let cancelled: Bool
            if case .cancelled = event { cancelled = true } else { cancelled = false }
            // A goal still running when the journey completes stops there; its stop point never comes.
            startGoals(at: at, context: context) { $0 == .journeyCompleted && !cancelled }
            for index in clocks.indices { clocks[index].stop(at: at, cancelled: cancelled, timeline: context.timeline(clocks[index].calendar)) }
            pendingGoals = []
            ended = true
            waiting = false
        case .started, .milestoneReached, .compensationRecorded, .feedbackReceived, .ownerReassigned, .stalled, .slaThresholdCrossed, .slaBreached,
            .escalationRaised, .escalationAcknowledged, .priorityRaised:
            break
        }
    }

    /// The customer's tier changed at `at`: each open goal is matched again under the new tier, from
    /// the same definition version, and counts on with its new target from there.
    public mutating func changeTier(to newTier: String, at: Date, context: Context) {
        guard !ended, newTier != tier else { return }
        advance(to: at, context: context)
        tier = newTier
        guard let definition = context.catalog.definition(version: definitionVersion) else { return }
        for index in clocks.indices where clocks[index].kind == .sla && clocks[index].isOpen {
            guard let goal = definition.slaGoal(named: clocks[index].name, forTier: newTier) else { continue }
            clocks[index].retarget(
                to: goal, targetSeconds: context.seconds(goal.target, in: goal.calendar), tier: newTier, at: at, waiting: waiting,
                timeline: context.timeline(goal.calendar))
        }
    }

    private mutating func advance(to at: Date, context: Context) {
        for index in clocks.indices {
            clocks[index].advance(to: at, department: department, timeline: context.timeline(clocks[index].calendar))
        }
    }

    private func goal(of clock: SLAClock, _ context: Context) -> JourneyDefinition.SLAGoal? {
        context.catalog.definition(version: definitionVersion)?.slaGoal(named: clock.name, forTier: clock.tier)
    }

    /// Starts the pending goals whose start point `matches`.
    private mutating func startGoals(at: Date, context: Context, where matches: (JourneyDefinition.SLAPoint) -> Bool) {
        guard let definition = context.catalog.definition(version: definitionVersion) else { return }
        var stillPending: [String] = []
        for name in pendingGoals {
            guard let goal = definition.slaGoal(named: name, forTier: tier), matches(goal.start) else {
                stillPending.append(name)
                continue
            }
            var clock = SLAClock(
                kind: .sla, name: name, calendar: goal.calendar, targetSeconds: context.seconds(goal.target, in: goal.calendar),
                pausesWhileWaiting: goal.pausesWhileWaitingOnCustomer,
                tier: tier, at: at, timeline: context.timeline(goal.calendar))
            if waiting, clock.pausesWhileWaiting { clock.pause(at: at) }
            clocks.append(clock)
        }
        pendingGoals = stillPending
    }
}
