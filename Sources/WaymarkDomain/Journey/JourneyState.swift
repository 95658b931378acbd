/// A journey as its events describe it. Built only by `evolve`, one event at a time.
public struct JourneyState: Sendable, Equatable {
    /// Where the journey stands. The raw values are the words of `analytics.journeys.status` (which
    /// adds `stalled`, a reading of the clock): one vocabulary for messages, views and the API. The
    /// status is never stored in events, so the words carry no history to decode.
    public enum Status: String, Sendable, Equatable, CaseIterable, Codable {
        case notStarted = "not_started"
        case active
        case waitingOnCustomer = "waiting_on_customer"
        case completed
        case cancelled
    }

    public var status: Status = .notStarted
    public var journeyId: String?
    public var customerId: String?
    public var journeyType: String?
    public var definitionVersion: String?
    public var tier: String?
    public var externalProcessId: String?
    public var owner: String?
    public var stage: String?
    public var department: String?
    /// Every milestone reached, in order (a stage entered again can reach its milestones again).
    public var milestones: [String] = []
    /// Milestones reached since the journey last entered its current stage.
    public var milestonesInStage: [String] = []
    /// The stages entered, in order, the first included.
    public var stagesVisited: [String] = []
    public var pendingHandoff: JourneyEvent.HandoffRequested?
    public var compensationsOwed: [String] = []
    public var compensationsDone: [String] = []
    public var feedback: [JourneyCommand.Feedback] = []
    /// Escalations raised and not yet acknowledged, by id, and those acknowledged.
    public var openEscalations: [String] = []
    public var acknowledgedEscalations: [String] = []
    /// 0 is normal; each `PriorityRaised` sets it.
    public var priority = 0
    /// How many events built this state: the stream's version.
    public var version: Int64 = 0

    public init() {}

    public var isClosed: Bool { status == .completed || status == .cancelled }

    /// The state after `event`.
    public static func evolve(_ state: JourneyState, _ event: JourneyEvent) -> JourneyState {
        var next = state
        next.version += 1
        switch event {
        case .started(let started):
            next.status = .active
            next.journeyId = started.journeyId
            next.customerId = started.customerId
            next.journeyType = started.journeyType
            next.definitionVersion = started.definitionVersion
            next.tier = started.tier
            next.externalProcessId = started.externalProcessId
            next.owner = started.owner
            next.stage = started.stage
            next.department = started.department
            next.stagesVisited = [started.stage]
        case .milestoneReached(let reached):
            next.milestones.append(reached.milestone)
            next.milestonesInStage.append(reached.milestone)
        case .stageEntered(let entered):
            next.stage = entered.stage
            next.department = entered.department
            next.stagesVisited.append(entered.stage)
            next.milestonesInStage = []
        case .handoffRequested(let request):
            next.pendingHandoff = request
        case .handoffAccepted, .handoffRejected:
            next.pendingHandoff = nil
        case .waitingOnCustomer:
            next.status = .waitingOnCustomer
        case .resumed:
            next.status = .active
        case .ownerReassigned(let reassigned):
            next.owner = reassigned.to
        case .completed:
            next.status = .completed
        case .cancelled(let cancelled):
            next.status = .cancelled
            next.pendingHandoff = nil
            next.compensationsOwed = cancelled.compensationsOwed
        case .compensationRecorded(let recorded):
            next.compensationsDone.append(recorded.compensation)
        case .feedbackReceived(let feedback):
            next.feedback.append(feedback)
        case .escalationRaised(let raised):
            next.openEscalations.append(raised.escalationId)
        case .escalationAcknowledged(let acknowledged):
            next.openEscalations.removeAll { $0 == acknowledged.escalationId }
            next.acknowledgedEscalations.append(acknowledged.escalationId)
        case .priorityRaised(let raised):
            next.priority = raised.priority
        case .stalled, .slaThresholdCrossed, .slaBreached:
            break
        }
        return next
    }

    /// The state `events` build from nothing.
    public static func replay(_ events: some Sequence<JourneyEvent>) -> JourneyState {
        events.reduce(JourneyState(), evolve)
    }
}
