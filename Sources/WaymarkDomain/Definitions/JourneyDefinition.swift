/// A journey type as operators describe it in `config/journeys/*.yaml`: its stages in order, who
/// owns each, the transitions and handoffs allowed between them, and per customer tier the SLA
/// goals and escalation ladders. Loaded and checked by `DefinitionLoader`; never changed after
/// that: a changed file is a new definition version, and a journey keeps the version it started
/// under.
public struct JourneyDefinition: Sendable, Equatable {
    /// The journey type, for example `new-business`.
    public var journeyType: String
    /// The operators' version string and the file's content hash.
    public var version: DefinitionVersion
    public var description: String
    /// The stages in their order; the first is where a journey starts.
    public var stages: [Stage]
    public var transitions: [Transition]
    /// SLA goals by tier; the first goal whose tiers match a journey applies, else a default goal.
    public var slaGoals: [SLAGoal]
    /// The tiers this journey type serves.
    public var tiers: [String]
    /// The YAML text it was read from (its version hashes it): what the log records of each
    /// version, so that journeys started under it keep their meaning after the file changes.
    public var source: String = ""

    public struct Stage: Sendable, Equatable {
        public var id: String
        public var department: String
        /// How long a journey may stay in this stage before it counts as stalled; nil: no limit.
        public var maxDwell: BusinessDuration?
        /// Milestones that can be reached in this stage.
        public var milestones: [String]
        /// What must be undone, by milestone, when a journey that reached it is cancelled.
        public var compensations: [String: String]
    }

    public struct Transition: Sendable, Equatable {
        public var from: String
        public var to: String
        /// Set when the transition crosses departments: the receiving department must accept it.
        public var handoff: Handoff?
    }

    public struct Handoff: Sendable, Equatable {
        public var fromDepartment: String
        public var toDepartment: String
        /// Facts the request must carry before the receiving department can accept it.
        public var acceptanceCriteria: [String]
        /// The operational-level agreement: how long the receiving department has to accept.
        public var ola: BusinessDuration?
        /// The calendar the OLA counts in (nil: around the clock).
        public var calendar: String?
    }

    public struct SLAGoal: Sendable, Equatable {
        public var name: String
        /// Tiers the goal applies to; empty for the default goal.
        public var tiers: [String]
        public var isDefault: Bool { tiers.isEmpty }
        public var start: SLAPoint
        public var stop: SLAPoint
        public var target: BusinessDuration
        /// The calendar whose business hours count (nil: around the clock).
        public var calendar: String?
        /// Whether time spent waiting on the customer is left out.
        public var pausesWhileWaitingOnCustomer: Bool
        public var escalation: [EscalationLevel]
    }

    /// Where an SLA clock starts or stops.
    public enum SLAPoint: Sendable, Equatable, CustomStringConvertible {
        case journeyStarted
        case stageEntered(String)
        case journeyCompleted

        public var description: String {
            switch self {
            case .journeyStarted: return "journey-started"
            case .stageEntered(let stage): return "stage:\(stage)"
            case .journeyCompleted: return "journey-completed"
            }
        }
    }

    public struct EscalationLevel: Sendable, Equatable {
        /// How long after the goal's start (business time in its calendar) this level fires.
        public var after: BusinessDuration
        public var role: String
        public var action: EscalationAction
    }

    public enum EscalationAction: String, Sendable, Equatable, CaseIterable {
        case notify
        case reassign
        case raisePriority = "raise-priority"
    }

    public func stage(_ id: String) -> Stage? { stages.first { $0.id == id } }

    /// The stage a milestone belongs to.
    public func stage(ofMilestone milestone: String) -> Stage? { stages.first { $0.milestones.contains(milestone) } }

    /// The compensation owed for `milestone` once reached, if the definition names one.
    public func compensation(for milestone: String) -> String? { stage(ofMilestone: milestone)?.compensations[milestone] }

    /// The transition from `from` to `to`, if the definition allows it.
    public func transition(from: String, to: String) -> Transition? {
        transitions.first { $0.from == from && $0.to == to }
    }

    /// The goal for a journey of `tier`: the first whose tiers include it, else the default.
    public func slaGoal(forTier tier: String) -> SLAGoal? {
        slaGoals.first { $0.tiers.contains(tier) } ?? slaGoals.first { $0.isDefault }
    }

    /// The goal of each name that applies to a journey of `tier`: per name, the first whose tiers
    /// include it, else that name's default; names in the order the file first gives them.
    public func slaGoals(forTier tier: String) -> [SLAGoal] {
        var names: [String] = []
        for goal in slaGoals where !names.contains(goal.name) { names.append(goal.name) }
        return names.compactMap { slaGoal(named: $0, forTier: tier) }
    }

    /// The goal named `name` for a journey of `tier`, if one applies.
    public func slaGoal(named name: String, forTier tier: String) -> SLAGoal? {
        let named = slaGoals.filter { $0.name == name }
        return named.first { $0.tiers.contains(tier) } ?? named.first { $0.isDefault }
    }
}

/// A definition's version: what operators call it, and a hash of the file's content, so that two
/// different files never share a version even when the string was not changed.
public struct DefinitionVersion: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    /// The first 16 hex digits of the SHA-256 of the file's bytes.
    public var contentHash: String

    public init(name: String, contentHash: String) {
        self.name = name
        self.contentHash = contentHash
    }

    /// `name+hash`, as recorded on every journey.
    public var description: String { "\(name)+\(contentHash)" }
}
