import Foundation

/// A downstream system had not applied a consent decision (reported `ConsentPropagated`) by its
/// due time: the decision's time plus the system's `propagation` time in `consent.yaml`. Recorded
/// by the process manager on the subject's consent stream, at most once per decision and system.
public struct ConsentPropagationOverdue: Sendable, Equatable, Codable {
    public var scope: ConsentScope
    public var system: String
    /// The id of the decision event (given, refused, withdrawn) not applied.
    public var decision: UUID
    public var dueAt: Date
    public var audit: Audit

    public init(scope: ConsentScope, system: String, decision: UUID, dueAt: Date, audit: Audit) {
        self.scope = scope
        self.system = system
        self.decision = decision
        self.dueAt = dueAt
        self.audit = audit
    }

    /// Why the process manager recorded it. The fields a journey's `DecisionAudit` also has carry
    /// its names and meanings (rule, deadline id, since, due, decided, lateness, stale, instance),
    /// so one query reads both; a journey's stage, department, tier and definition version have
    /// no meaning for a consent decision and are not here.
    public struct Audit: Sendable, Equatable, Codable {
        /// Always `consentPropagation`.
        public var rule: DecisionAudit.Rule
        /// The deadline that fired: unique per subject, decision and system.
        public var deadlineId: String
        /// When the decision was made.
        public var since: Date
        /// The system's time to apply, as configured when the deadline was scheduled.
        public var dueWithinSeconds: Int64
        public var dueAt: Date
        public var decidedAt: Date
        /// `decidedAt - dueAt` in seconds, never negative.
        public var latenessSeconds: Double
        /// Past the process manager's stale horizon when decided (downtime).
        public var stale: Bool
        public var instance: String

        public init(deadlineId: String, since: Date, dueWithinSeconds: Int64, dueAt: Date, decidedAt: Date, stale: Bool, instance: String) {
            rule = .consentPropagation
            self.deadlineId = deadlineId
            self.since = since
            self.dueWithinSeconds = dueWithinSeconds
            self.dueAt = dueAt
            self.decidedAt = decidedAt
            latenessSeconds = max(0, decidedAt.timeIntervalSince(dueAt))
            self.stale = stale
            self.instance = instance
        }
    }
}
