import Foundation

/// One consent subject as the process manager follows it: the current decision on each question
/// and the downstream systems that reported applying it, folded from the subject's consent stream.
/// Its deadlines are the current decisions' systems that have not applied them: a newer decision on
/// the same question replaces the older one (whose deadlines are then cancelled), a
/// `ConsentPropagated` report made before the system's due time takes it out (one made after still
/// leaves the overdue to record), a `ConsentPropagationFailed` one does not (the decision is still
/// not applied).
public struct ConsentWatch: Sendable, Equatable, Codable {
    public struct Decision: Sendable, Equatable, Codable {
        public var id: UUID
        public var decidedAt: Date
        /// Systems that reported applying this decision.
        public var applied: Set<String> = []
        /// When each of them applied it (absent in watches stored before it was kept).
        public var appliedAt: [String: Date]?
    }

    public var subjectId: String
    /// The current decision of each question, by `purpose` then `channel`.
    public var decisions: [String: [String: Decision]] = [:]
    /// Deadline ids whose `ConsentPropagationOverdue` is in the log.
    public var fired: Set<String> = []
    /// The consent stream's version of the last event folded: a deadline fires only on it.
    public var version: Int64 = 0

    public init(subjectId: String) { self.subjectId = subjectId }

    /// Folds the subject's event `event`, stored with id `eventId`, that happened `at`.
    public mutating func apply(_ event: ConsentEvent, eventId: UUID, at: Date) {
        switch event {
        case .given(let record), .refused(let record):
            decisions[record.scope.purpose, default: [:]][record.scope.channel] = Decision(id: eventId, decidedAt: at)
        case .withdrawn(let withdrawn):
            decisions[withdrawn.scope.purpose, default: [:]][withdrawn.scope.channel] = Decision(id: eventId, decidedAt: at)
        case .propagated(let report):
            // A report on a superseded decision changes nothing: the current one is still owed.
            guard decisions[report.scope.purpose]?[report.scope.channel]?.id == report.decision else { return }
            decisions[report.scope.purpose]![report.scope.channel]!.applied.insert(report.system)
            decisions[report.scope.purpose]![report.scope.channel]!.appliedAt = (decisions[report.scope.purpose]![report.scope.channel]!.appliedAt ?? [:])
                .merging([report.system: at]) { first, _ in first }
        case .propagationFailed:
            break
        case .propagationOverdue(let overdue):
            fired.insert(overdue.audit.deadlineId)
        }
    }

    /// Every deadline pending now: for each current decision, each downstream system of its
    /// purpose (as `purposes` lists them) that has not applied it, unless its event is in the log.
    public func deadlines(purposes: [String: ConsentPurpose], times: ConsentPropagationTimes) -> [ConsentDeadline] {
        var out: [ConsentDeadline] = []
        for (purpose, channels) in decisions.sorted(by: { $0.key < $1.key }) {
            for (channel, decision) in channels.sorted(by: { $0.key < $1.key }) {
                for system in purposes[purpose]?.downstream ?? [] {
                    let seconds = times.seconds(for: system)
                    let deadline = ConsentDeadline(
                        subjectId: subjectId, scope: ConsentScope(purpose: purpose, channel: channel), system: system, decision: decision.id,
                        decidedAt: decision.decidedAt, dueWithinSeconds: seconds)
                    // Applied in time takes the system out; applied after its due time (reported
                    // while the process manager was down) still leaves the missed time to record.
                    if decision.applied.contains(system), (decision.appliedAt?[system]).map({ $0 < deadline.dueAt }) ?? true { continue }
                    if !fired.contains(deadline.id) { out.append(deadline) }
                }
            }
        }
        return out
    }
}

/// When a downstream system must have applied a consent decision. Its id names the subject,
/// decision and system, never the due time, so a changed time reschedules the same deadline.
public struct ConsentDeadline: Sendable, Equatable, Codable {
    /// `pm_deadlines.kind` of these deadlines.
    public static let kind = "consent_propagation"

    public var id: String
    public var subjectId: String
    public var scope: ConsentScope
    public var system: String
    public var decision: UUID
    public var decidedAt: Date
    public var dueWithinSeconds: Int64
    /// Not before: fires at or after this instant.
    public var dueAt: Date

    public init(subjectId: String, scope: ConsentScope, system: String, decision: UUID, decidedAt: Date, dueWithinSeconds: Int64) {
        id = "consent:\(subjectId)/\(decision.uuidString.lowercased())/\(system)"
        self.subjectId = subjectId
        self.scope = scope
        self.system = system
        self.decision = decision
        self.decidedAt = decidedAt
        self.dueWithinSeconds = dueWithinSeconds
        dueAt = decidedAt.addingTimeInterval(TimeInterval(dueWithinSeconds))
    }

    /// The id of the event its firing records: the same on every attempt.
    public var eventId: UUID { Deadline.eventId(deadlineId: id, 0) }

    /// The event that records this deadline firing at `now`; stale when overdue past
    /// `settings.staleAfterSeconds` (recorded all the same: the system still owes the decision).
    public func event(firedAt now: Date, instance: String, settings: ProcessManagerSettings) -> ConsentEvent {
        let stale = now.timeIntervalSince(dueAt) > Double(settings.staleAfterSeconds)
        let audit = ConsentPropagationOverdue.Audit(
            deadlineId: id, since: decidedAt, dueWithinSeconds: dueWithinSeconds, dueAt: dueAt, decidedAt: max(now, dueAt), stale: stale, instance: instance)
        return .propagationOverdue(.init(scope: scope, system: system, decision: decision, dueAt: dueAt, audit: audit))
    }
}
