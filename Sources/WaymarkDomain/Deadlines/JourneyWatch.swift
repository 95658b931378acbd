import Foundation

/// One journey as the process manager follows it: folded from its events (and its customer's tier
/// changes and merges, in the log's order), it knows which deadlines are pending now
/// (`deadlines(settings:context:)`) and which already fired (their events are in the log).
///
/// The SLA thresholds and escalation levels come from the same `SLAClockFold` the SLA view folds,
/// so a breach fires at the view's `breach_at` and a 50 % crossing at its `reached_50_at`.
public struct JourneyWatch: Sendable, Equatable, Codable {
    public var journeyId: String
    public var status: JourneyState.Status
    public var stage: String
    public var department: String
    public var owner: String?
    public var stageEnteredAt: Date
    /// The last time the journey stopped waiting on the customer: a stall is due no earlier, since
    /// a journey that waits is not stalled (as `analytics.journeys` shows it).
    public var resumedAt: Date?
    /// The stage visit, counting from 1: a rework loop back into a stage is a new visit, whose
    /// stall is a deadline of its own.
    public var visit = 1
    /// The stages entered since the current cycle began; re-entering one of them (a rework loop)
    /// opens a new cycle. Optional so that a watch stored before cycles were kept still decodes
    /// (nil: only the current stage is known).
    public var cycleStages: Set<String>?
    public var clocks: SLAClockFold
    /// Deadline ids whose events are in the log.
    public var fired: Set<String> = []
    /// Escalations of SLA ladders, by id → goal; and the goals whose ladder someone acknowledged in
    /// the current cycle (an acknowledgement stops a ladder for its cycle only).
    public var ladderEscalations: [String: String] = [:]
    public var acknowledgedGoals: Set<String> = []
    public var cancelledAt: Date?
    public var compensationsOutstanding: [String] = []
    public var feedback: [Feedback] = []
    public var priority = 0
    /// The stream version of the journey's last event folded (integration events appended raw to
    /// the stream count too: a deadline fires only on the version its watch has seen).
    public var version: Int64 = 1

    public struct Feedback: Sendable, Equatable, Codable {
        public var number: Int
        public var at: Date
        public var kind: JourneyCommand.Feedback.Kind
        public var score: Int
        /// The customer's tier when the feedback came: it is judged low or not once, by that tier's
        /// thresholds, and a later tier change or merge does not judge it again. Nil in a watch
        /// stored before the tier was kept (judged by the current tier).
        public var tier: String?
    }

    public var customerId: String { clocks.customerId }
    public var tier: String { clocks.tier }
    public var isOpen: Bool { status == .active || status == .waitingOnCustomer }

    public init(_ started: JourneyEvent.Started, at: Date, context: SLAClockFold.Context) {
        journeyId = started.journeyId
        status = .active
        stage = started.stage
        department = started.department
        owner = started.owner
        stageEnteredAt = at
        cycleStages = [started.stage]
        clocks = SLAClockFold(started, at: at, context: context)
    }

    /// The watch after the journey's next event, which occurred at `at`.
    public mutating func apply(_ event: JourneyEvent, at: Date, context: SLAClockFold.Context) {
        clocks.apply(event, at: at, context: context)
        switch event {
        case .stageEntered(let entered):
            var stages = cycleStages ?? [stage]
            stage = entered.stage
            department = entered.department
            stageEnteredAt = at
            visit += 1
            if stages.contains(entered.stage) {
                // Back into a stage of this cycle: rework, a new cycle, whose ladder runs again.
                stages = []
                acknowledgedGoals = []
            }
            stages.insert(entered.stage)
            cycleStages = stages
        case .waitingOnCustomer: status = .waitingOnCustomer
        case .resumed:
            status = .active
            resumedAt = at
        case .ownerReassigned(let reassigned): owner = reassigned.to
        case .completed: status = .completed
        case .cancelled(let cancelled):
            status = .cancelled
            cancelledAt = at
            compensationsOutstanding = cancelled.compensationsOwed
        case .compensationRecorded(let recorded):
            compensationsOutstanding.removeAll { $0 == recorded.compensation }
        case .feedbackReceived(let received):
            feedback.append(Feedback(number: feedback.count + 1, at: at, kind: received.kind, score: received.score, tier: tier))
        case .stalled(let stalled): fired.insert(stalled.audit.deadlineId)
        case .slaThresholdCrossed(let crossed), .slaBreached(let crossed): fired.insert(crossed.audit.deadlineId)
        case .escalationRaised(let raised):
            fired.insert(raised.audit.deadlineId)
            if raised.reason == .slaLadder, let goal = raised.goal { ladderEscalations[raised.escalationId] = goal }
        case .escalationAcknowledged(let acknowledged):
            if let goal = ladderEscalations[acknowledged.escalationId] { acknowledgedGoals.insert(goal) }
        case .priorityRaised(let raised): priority = raised.priority
        case .started, .milestoneReached, .handoffRequested, .handoffAccepted, .handoffRejected: break
        }
    }

    /// The customer's tier changed (or a merge moved the journey to a survivor of another tier).
    public mutating func changeTier(to tier: String, at: Date, context: SLAClockFold.Context) {
        clocks.changeTier(to: tier, at: at, context: context)
    }

    /// The journey's customer was merged into `survivor`, whose tier (if known) it takes from `at`.
    public mutating func merge(into survivor: String, tier: String?, at: Date, context: SLAClockFold.Context) {
        clocks.customerId = survivor
        if let tier { clocks.changeTier(to: tier, at: at, context: context) }
    }

    /// Every deadline pending now: not fired, and still meaningful for the journey as it stands.
    public func deadlines(settings: ProcessManagerSettings, context: SLAClockFold.Context) -> [Deadline] {
        let definition = context.catalog.definition(version: clocks.definitionVersion)
        var out: [Deadline] = []
        func add(_ deadline: Deadline) {
            if !fired.contains(deadline.id) { out.append(deadline) }
        }
        if status == .active, let maxDwell = definition?.stage(stage)?.maxDwell {
            let due = max(stageEnteredAt.addingTimeInterval(Double(maxDwell.seconds)), resumedAt ?? stageEnteredAt)
            add(deadline("stall/\(visit)", .stageStall, due: due, since: stageEnteredAt))
        }
        for clock in clocks.clocks {
            switch clock.kind {
            case .ola:
                guard clock.isOpen, let due = clock.reached[2] ?? clock.breachAt, let number = clock.handoffNumber else { continue }
                var olaDeadline = deadline("handoff/\(number)", .handoffOLA, due: due, since: clock.startedAt)
                olaDeadline.handoffNumber = number
                olaDeadline.toDepartment = clock.toDepartment
                add(olaDeadline)
            case .sla:
                for deadline in thresholds(of: clock, context) { add(deadline) }
                if let goal = definition?.slaGoal(named: clock.name, forTier: clock.tier) {
                    for deadline in ladder(of: clock, goal: goal, context) { add(deadline) }
                }
            }
        }
        for received in feedback {
            let judgedBy = received.tier ?? tier
            guard settings.lowScore.isLow(JourneyCommand.Feedback(kind: received.kind, score: received.score, channel: "-"), tier: judgedBy) else { continue }
            var low = deadline("low-score/\(received.number)", .lowScore, due: received.at, since: received.at)
            low.tier = judgedBy
            low.role = settings.lowScore.role
            low.action = .notify
            low.level = 1
            add(low)
        }
        if status == .cancelled, !compensationsOutstanding.isEmpty, let cancelledAt {
            var owed = deadline(
                "compensations", .compensations, due: cancelledAt.addingTimeInterval(Double(settings.compensations.dueWithinSeconds)), since: cancelledAt)
            owed.role = settings.compensations.role
            owed.action = .notify
            owed.level = 1
            add(owed)
        }
        return out
    }

    /// 50, 75 and 100 % of an SLA clock: those reached (also by a clock stopped since: the share
    /// was crossed) at the instant the fold noted, those ahead of a running clock at the instant
    /// the running clock reaches them. A paused clock schedules nothing ahead until it resumes.
    private func thresholds(of clock: SLAClock, _ context: SLAClockFold.Context) -> [Deadline] {
        var out: [Deadline] = []
        for (index, percent) in [50, 75, 100].enumerated() {
            let share = clock.targetSeconds * SLAClock.thresholds[index]
            let due: Date
            if let reached = clock.reached[index] {
                due = reached
            } else if clock.state == .running, let since = clock.runningSince {
                due = SLAClock.adding(share - clock.elapsedBefore, to: since, context.timeline(clock.calendar))
            } else {
                continue
            }
            var crossing = deadline("sla/\(clock.name)/\(percent)", .slaThreshold, due: due, since: clock.startedAt)
            crossing.goal = clock.name
            crossing.percent = percent
            crossing.tier = clock.tier
            crossing.businessSecondsElapsed = share / 1_000_000
            if percent == 100, let department = clock.breachDepartment { crossing.department = department }
            out.append(crossing)
        }
        return out
    }

    /// The levels of `goal`'s ladder still ahead while its clock runs and nobody acknowledged it:
    /// a level fires when the clock has counted its `after` (business time, pauses left out as
    /// the clock leaves them out).
    private func ladder(of clock: SLAClock, goal: JourneyDefinition.SLAGoal, _ context: SLAClockFold.Context) -> [Deadline] {
        guard clock.state == .running, let since = clock.runningSince, !acknowledgedGoals.contains(clock.name) else { return [] }
        let timeline = context.timeline(goal.calendar)
        return goal.escalation.enumerated().map { index, step in
            let after = context.seconds(step.after, in: goal.calendar) * 1_000_000
            let due = after > clock.elapsedBefore ? SLAClock.adding(after - clock.elapsedBefore, to: since, timeline) : since
            var level = deadline("escalation/\(clock.name)/\(index + 1)", .escalationLevel, due: due, since: clock.startedAt)
            level.goal = clock.name
            level.level = index + 1
            level.role = step.role
            level.action = step.action
            level.tier = clock.tier
            level.businessSecondsElapsed = after / 1_000_000
            return level
        }
    }

    private func deadline(_ name: String, _ kind: Deadline.Kind, due: Date, since: Date) -> Deadline {
        Deadline(
            id: "\(journeyId)/\(name)", kind: kind, journeyId: journeyId, journeyType: clocks.journeyType, dueAt: due,
            definitionVersion: clocks.definitionVersion, stage: stage,
            department: department, owner: owner, tier: tier, since: since)
    }
}
