import Foundation

/// How the process manager reacts, from `config/process-manager.yaml`: who takes over each role's
/// escalations, when a customer's score is low, how long owed compensations may stay unrecorded,
/// and how late a deadline may fire before it counts as stale.
public struct ProcessManagerSettings: Sendable, Equatable {
    /// Deadlines overdue by more than this when they fire (downtime, a journey imported from last
    /// year) are recorded as stale: their escalations act on nothing.
    public var staleAfterSeconds: Int64
    /// Role → the owner its queue is routed to (who takes a journey over on `reassign`).
    public var routing: [String: String]
    public var lowScore: LowScore
    /// The locale of the notifications escalations request (`notification_locale`, default `en`).
    public var notificationLocale = "en"
    public var compensations: Compensations

    public struct LowScore: Sendable, Equatable {
        /// Who is told at once of a low score.
        public var role: String
        public var thresholds: Thresholds
        /// Per tier where it differs.
        public var tiers: [String: Thresholds]

        public struct Thresholds: Sendable, Equatable {
            public var csatAtMost: Int
            public var npsAtMost: Int
        }

        /// Whether `feedback` from a customer of `tier` is low.
        public func isLow(_ feedback: JourneyCommand.Feedback, tier: String) -> Bool {
            let limits = tiers[tier] ?? thresholds
            switch feedback.kind {
            case .csat: return feedback.score <= limits.csatAtMost
            case .nps: return feedback.score <= limits.npsAtMost
            }
        }
    }

    public struct Compensations: Sendable, Equatable {
        /// How long after a cancel every owed compensation must be recorded (wall clock).
        public var dueWithinSeconds: Int64
        public var role: String
    }

    public init(staleAfterSeconds: Int64, routing: [String: String], lowScore: LowScore, compensations: Compensations) {
        self.staleAfterSeconds = staleAfterSeconds
        self.routing = routing
        self.lowScore = lowScore
        self.compensations = compensations
    }

    public static let fileName = "process-manager.yaml"

    /// Reads `process-manager.yaml` from the configuration folder and checks it against `catalog`:
    /// every role an escalation ladder, the low-score rule or the compensation rule names must be
    /// routed, and tiers must be ones the definitions serve.
    public static func load(directory: URL, catalog: JourneyCatalog) throws -> ProcessManagerSettings {
        let file = directory.appendingPathComponent(fileName)
        return try parse(try DefinitionLoader.read(file), file: file.path, catalog: catalog)
    }

    public static func parse(_ yaml: String, file: String, catalog: JourneyCatalog) throws -> ProcessManagerSettings {
        let root = try YAMLValue.parse(yaml, file: file)
        let fields = try root.mapping(allowed: ["stale_after", "routing", "low_score", "compensations", "notification_locale"])
        let stale = try fields["stale_after"]?.duration().seconds ?? 86_400
        var routing: [String: String] = [:]
        let routingValue = try fields.required("routing", in: root)
        for (role, owner) in try routingValue.namedEntries() { routing[role] = try owner.string() }

        let lowValue = try fields.required("low_score", in: root)
        let low = try lowValue.mapping(allowed: ["role", "csat_at_most", "nps_at_most", "tiers"])
        func thresholds(_ fields: [String: YAMLValue], _ parent: YAMLValue, default fallback: LowScore.Thresholds?) throws -> LowScore.Thresholds {
            func limit(_ key: String, _ range: ClosedRange<Int>, _ fallback: Int?) throws -> Int {
                if let value = fields[key] { return try value.integer(in: range) }
                if let fallback { return fallback }
                return try fields.required(key, in: parent).integer(in: range)
            }
            return LowScore.Thresholds(
                csatAtMost: try limit("csat_at_most", JourneyCommand.Feedback.Kind.csat.range, fallback?.csatAtMost),
                npsAtMost: try limit("nps_at_most", JourneyCommand.Feedback.Kind.nps.range, fallback?.npsAtMost))
        }
        let base = try thresholds(low, lowValue, default: nil)
        var tiers: [String: LowScore.Thresholds] = [:]
        if let tiersValue = low["tiers"] {
            for (tier, value) in try tiersValue.namedEntries() {
                guard catalog.tiers.contains(tier) else {
                    throw value.fail("tier '\(tier)' is served by no journey definition; tiers: \(catalog.tiers.sorted().joined(separator: ", "))")
                }
                tiers[tier] = try thresholds(try value.mapping(allowed: ["csat_at_most", "nps_at_most"]), value, default: base)
            }
        }
        let lowRole = try low.required("role", in: lowValue)
        let compensationsValue = try fields.required("compensations", in: root)
        let compensations = try compensationsValue.mapping(allowed: ["due_within", "role"])
        let compensationRole = try compensations.required("role", in: compensationsValue)
        var settings = ProcessManagerSettings(
            staleAfterSeconds: stale, routing: routing, lowScore: LowScore(role: try lowRole.name(), thresholds: base, tiers: tiers),
            compensations: Compensations(
                dueWithinSeconds: try compensations.required("due_within", in: compensationsValue).duration().seconds, role: try compensationRole.name()))
        if let locale = fields["notification_locale"] { settings.notificationLocale = try locale.string() }

        for (role, value) in [(settings.lowScore.role, lowRole), (settings.compensations.role, compensationRole)] where routing[role] == nil {
            throw value.fail("role '\(role)' has no routing: add it under 'routing'")
        }
        for definition in catalog.versions.sorted(by: { $0.journeyType < $1.journeyType }) {
            for goal in definition.slaGoals {
                for level in goal.escalation where routing[level.role] == nil {
                    throw routingValue.fail(
                        "role '\(level.role)' of the \(goal.name) escalation ladder in the \(definition.journeyType) definition has no routing: add '\(level.role): <queue owner>'"
                    )
                }
            }
        }
        return settings
    }
}
