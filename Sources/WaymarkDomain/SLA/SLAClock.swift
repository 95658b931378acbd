import Foundation
import WaymarkDomain

/// One SLA goal or OLA of a journey, counted in business time of its calendar.
///
/// Stored as of the journey's last event that concerned it: the business seconds elapsed and
/// paused before `runningSince` / `pausedSince`. What the clock shows now (elapsed, remaining,
/// breached while running) is computed by the views when read, from these and `now()`.
///
/// Public so that every reader that decides by SLA time (the SLA projection, the process
/// manager's deadlines) applies the same rules and agrees on `breachAt` to the microsecond.
public struct SLAClock: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case sla
        case ola
    }

    /// Stored states; the views show `breached-running` for an open clock past its target.
    public enum State: String, Sendable, Codable {
        case running
        case paused
        case met
        case breachedClosed = "breached-closed"
        case cancelled
    }

    public var kind: Kind
    /// The goal's name, or `handoff-<n>` for an OLA.
    public var name: String
    public var calendar: String?
    public var targetSeconds: Int64
    public var pausesWhileWaiting: Bool
    /// The tier the goal was matched under.
    public var tier: String
    public var state: State
    public var startedAt: Date
    public var runningSince: Date?
    public var pausedSince: Date?
    public var stoppedAt: Date?
    /// Business microseconds elapsed and paused before `runningSince` / `pausedSince` (the log's
    /// resolution: a stop exactly at the deadline counts exactly the target).
    public var elapsedBefore: Int64 = 0
    public var pausedBefore: Int64 = 0
    public var breachAt: Date?
    public var originalBreachAt: Date?
    /// When 50, 75 and 100 % of the target were first reached.
    public var reached: [Date?] = [nil, nil, nil]
    public var everBreached = false
    /// The department that held the journey at `breachAt`: the one that held it while the last of
    /// the target ran out (a move at that very instant does not change it).
    public var breachDepartment: String?
    /// For an OLA: the handoff, its departments and how it was decided.
    public var handoffNumber: Int?
    public var fromDepartment: String?
    public var toDepartment: String?
    public var outcome: String?

    public var targetMicros: Int64 { targetSeconds * 1_000_000 }

    /// 50, 75 and 100 % of a second in microseconds: a target's thresholds are these times its seconds.
    public static let thresholds: [Int64] = [500_000, 750_000, 1_000_000]

    public var isOpen: Bool { state == .running || state == .paused }

    public init(
        kind: Kind, name: String, calendar: String?, targetSeconds: Int64, pausesWhileWaiting: Bool, tier: String, at: Date, timeline: BusinessTimeline?
    ) {
        self.kind = kind
        self.name = name
        self.calendar = calendar
        self.targetSeconds = targetSeconds
        self.pausesWhileWaiting = pausesWhileWaiting
        self.tier = tier
        state = .running
        startedAt = at
        runningSince = at
        breachAt = Self.adding(targetSeconds * 1_000_000, to: at, timeline)
        originalBreachAt = breachAt
    }

    /// Counts the time from the last change to `at` (clamped: an event stamped earlier counts
    /// nothing), noting thresholds passed meanwhile while `department` held the journey.
    ///
    /// The breach rule is one of instants: `breachAt` is the first instant at which the elapsed
    /// time reaches the target, and reaching it is a breach, so a clock that stops at or after it
    /// (at a close of business, or in the closed hours that follow) is breached.
    public mutating func advance(to at: Date, department: String, timeline: BusinessTimeline?) {
        if state == .running, let since = runningSince {
            let now = max(at, since)
            let counted = elapsedBefore + Self.micros(from: since, to: now, timeline)
            for index in Self.thresholds.indices where reached[index] == nil && counted >= targetSeconds * Self.thresholds[index] {
                reached[index] = Self.adding(targetSeconds * Self.thresholds[index] - elapsedBefore, to: since, timeline)
            }
            if counted >= targetMicros, !everBreached {
                everBreached = true
                breachDepartment = department
            }
            elapsedBefore = counted
            runningSince = now
        } else if state == .paused, let since = pausedSince {
            let now = max(at, since)
            pausedBefore += Self.micros(from: since, to: now, timeline)
            pausedSince = now
        }
    }

    public mutating func pause(at: Date) {
        guard state == .running else { return }
        state = .paused
        pausedSince = max(at, runningSince ?? at)
        runningSince = nil
    }

    public mutating func resume(at: Date, timeline: BusinessTimeline?) {
        guard state == .paused else { return }
        state = .running
        runningSince = max(at, pausedSince ?? at)
        pausedSince = nil
        scheduleBreach(timeline)
    }

    /// Stops the clock: met when it stops before `breachAt`, else breached; or cancelled with the
    /// journey. A clock stopped while paused short of its target keeps the deadline it would have
    /// had had the pause ended at the stop, as a paused clock shows while open.
    public mutating func stop(at: Date, cancelled: Bool, timeline: BusinessTimeline?) {
        guard isOpen else { return }
        let stopped = max(at, runningSince ?? pausedSince ?? at)
        stoppedAt = stopped
        if state == .paused, elapsedBefore < targetMicros {
            breachAt = Self.adding(targetMicros - elapsedBefore, to: stopped, timeline)
        }
        state = cancelled ? .cancelled : (elapsedBefore >= targetMicros ? .breachedClosed : .met)
        runningSince = nil
        pausedSince = nil
    }

    /// A new target, calendar or pause rule (a tier change) from `at` on: elapsed time stays
    /// counted, thresholds the new target puts behind the clock count as reached at `at`.
    public mutating func retarget(to goal: JourneyDefinition.SLAGoal, targetSeconds: Int64, tier: String, at: Date, waiting: Bool, timeline: BusinessTimeline?)
    {
        self.tier = tier
        self.targetSeconds = targetSeconds
        calendar = goal.calendar
        pausesWhileWaiting = goal.pausesWhileWaitingOnCustomer
        for index in Self.thresholds.indices where reached[index] == nil && elapsedBefore >= targetSeconds * Self.thresholds[index] {
            reached[index] = at
        }
        if waiting, pausesWhileWaiting { pause(at: at) } else if !pausesWhileWaiting { resume(at: at, timeline: timeline) }
        if elapsedBefore >= targetMicros { breachAt = reached[2] }
        scheduleBreach(timeline)
    }

    /// The instant the clock reaches threshold `index` of `thresholds` (50, 75, 100 %): when it
    /// did, or while it runs, when it will if it keeps running; nil while paused short of it.
    public func instant(ofThreshold index: Int, _ timeline: BusinessTimeline?) -> Date? {
        if let reached = reached[index] { return reached }
        guard state == .running, let since = runningSince else { return nil }
        return Self.adding(targetSeconds * Self.thresholds[index] - elapsedBefore, to: since, timeline)
    }

    /// While running and short of the target: the instant it will be reached.
    private mutating func scheduleBreach(_ timeline: BusinessTimeline?) {
        guard state == .running, let since = runningSince, elapsedBefore < targetMicros else { return }
        breachAt = Self.adding(targetMicros - elapsedBefore, to: since, timeline)
    }

    /// Business microseconds from `start` to `end`; around the clock without a timeline.
    public static func micros(from start: Date, to end: Date, _ timeline: BusinessTimeline?) -> Int64 {
        let (from, to) = (BusinessTimeline.micros(start), BusinessTimeline.micros(end))
        guard let timeline else { return to - from }
        return timeline.position(micros: to) - timeline.position(micros: from)
    }

    /// The instant `micros` business microseconds after `start`; around the clock without a timeline.
    public static func adding(_ micros: Int64, to start: Date, _ timeline: BusinessTimeline?) -> Date {
        let from = BusinessTimeline.micros(start)
        guard let timeline else { return BusinessTimeline.date(micros: from + max(micros, 0)) }
        return BusinessTimeline.date(micros: timeline.adding(micros: micros, to: from))
    }
}
