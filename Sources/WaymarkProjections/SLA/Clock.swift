import Foundation
import WaymarkDomain

/// One SLA goal or OLA of a journey, counted in business time of its calendar.
///
/// Stored as of the journey's last event that concerned it: the business seconds elapsed and
/// paused before `runningSince` / `pausedSince`. What the clock shows now (elapsed, remaining,
/// breached while running) is computed by the views when read, from these and `now()`.
struct Clock: Sendable, Equatable {
    enum Kind: String, Sendable {
        case sla
        case ola
    }

    /// Stored states; the views show `breached-running` for an open clock past its target.
    enum State: String, Sendable {
        case running
        case paused
        case met
        case breachedClosed = "breached-closed"
        case cancelled
    }

    var kind: Kind
    /// The goal's name, or `handoff-<n>` for an OLA.
    var name: String
    var calendar: String?
    var targetSeconds: Int64
    var pausesWhileWaiting: Bool
    /// The tier the goal was matched under.
    var tier: String
    var state: State
    var startedAt: Date
    var runningSince: Date?
    var pausedSince: Date?
    var stoppedAt: Date?
    var elapsedBefore: Double = 0
    var pausedBefore: Double = 0
    var breachAt: Date?
    var originalBreachAt: Date?
    /// When 50, 75 and 100 % of the target were first reached.
    var reached: [Date?] = [nil, nil, nil]
    var everBreached = false
    /// The department that owned the journey when the clock passed its target.
    var breachDepartment: String?
    /// For an OLA: the handoff, its departments and how it was decided.
    var handoffNumber: Int?
    var fromDepartment: String?
    var toDepartment: String?
    var outcome: String?

    static let thresholds = [0.5, 0.75, 1.0]

    var isOpen: Bool { state == .running || state == .paused }

    init(kind: Kind, name: String, calendar: String?, targetSeconds: Int64, pausesWhileWaiting: Bool, tier: String, at: Date, timeline: BusinessTimeline?) {
        self.kind = kind
        self.name = name
        self.calendar = calendar
        self.targetSeconds = targetSeconds
        self.pausesWhileWaiting = pausesWhileWaiting
        self.tier = tier
        state = .running
        startedAt = at
        runningSince = at
        breachAt = Self.adding(Double(targetSeconds), to: at, timeline)
        originalBreachAt = breachAt
    }

    /// Counts the time from the last change to `at` (clamped: an event stamped earlier counts
    /// nothing), noting thresholds passed meanwhile while `department` owned the journey.
    mutating func advance(to at: Date, department: String, timeline: BusinessTimeline?) {
        if state == .running, let since = runningSince {
            let now = max(at, since)
            let counted = elapsedBefore + Self.seconds(from: since, to: now, timeline)
            for (index, share) in Self.thresholds.enumerated() where reached[index] == nil {
                let mark = share * Double(targetSeconds)
                guard counted >= mark else { continue }
                reached[index] = Self.adding(mark - elapsedBefore, to: since, timeline)
            }
            if counted > Double(targetSeconds), !everBreached {
                everBreached = true
                breachDepartment = department
            }
            elapsedBefore = counted
            runningSince = now
        } else if state == .paused, let since = pausedSince {
            let now = max(at, since)
            pausedBefore += Self.seconds(from: since, to: now, timeline)
            pausedSince = now
        }
    }

    mutating func pause(at: Date) {
        guard state == .running else { return }
        state = .paused
        pausedSince = max(at, runningSince ?? at)
        runningSince = nil
    }

    mutating func resume(at: Date, timeline: BusinessTimeline?) {
        guard state == .paused else { return }
        state = .running
        runningSince = max(at, pausedSince ?? at)
        pausedSince = nil
        scheduleBreach(timeline)
    }

    /// Stops the clock: met or breached, or cancelled with the journey.
    mutating func stop(at: Date, cancelled: Bool) {
        guard isOpen else { return }
        stoppedAt = max(at, runningSince ?? pausedSince ?? at)
        state = cancelled ? .cancelled : (elapsedBefore > Double(targetSeconds) ? .breachedClosed : .met)
        runningSince = nil
        pausedSince = nil
    }

    /// A new target, calendar or pause rule (a tier change) from `at` on: elapsed time stays
    /// counted, thresholds the new target puts behind the clock count as reached at `at`.
    mutating func retarget(to goal: JourneyDefinition.SLAGoal, targetSeconds: Int64, tier: String, at: Date, waiting: Bool, timeline: BusinessTimeline?) {
        self.tier = tier
        self.targetSeconds = targetSeconds
        calendar = goal.calendar
        pausesWhileWaiting = goal.pausesWhileWaitingOnCustomer
        for (index, share) in Self.thresholds.enumerated() where reached[index] == nil && elapsedBefore >= share * Double(targetSeconds) {
            reached[index] = at
        }
        if waiting, pausesWhileWaiting { pause(at: at) } else if !pausesWhileWaiting { resume(at: at, timeline: timeline) }
        if elapsedBefore >= Double(targetSeconds) { breachAt = reached[2] }
        scheduleBreach(timeline)
    }

    /// While running and short of the target: the instant it will be passed.
    private mutating func scheduleBreach(_ timeline: BusinessTimeline?) {
        guard state == .running, let since = runningSince, elapsedBefore < Double(targetSeconds) else { return }
        breachAt = Self.adding(Double(targetSeconds) - elapsedBefore, to: since, timeline)
    }

    static func seconds(from start: Date, to end: Date, _ timeline: BusinessTimeline?) -> Double {
        timeline?.seconds(from: start, to: end) ?? end.timeIntervalSince(start)
    }

    static func adding(_ seconds: Double, to start: Date, _ timeline: BusinessTimeline?) -> Date {
        timeline?.adding(seconds, to: start) ?? start.addingTimeInterval(max(seconds, 0))
    }
}
