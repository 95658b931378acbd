/// What a service asks of a journey. `JourneyDecider.decide` turns it into events or a
/// `Rejection`; nothing else changes a journey.
public enum JourneyCommand: Sendable, Equatable {
    case start(Start)
    case reachMilestone(String)
    /// Move to a stage of the same department (across departments, request a handoff).
    case moveToStage(String)
    case requestHandoff(toStage: String, facts: [String: String])
    case acceptHandoff(by: String)
    case rejectHandoff(by: String, reason: String)
    case waitOnCustomer(reason: String)
    case resume
    case reassignOwner(to: String)
    case complete
    case cancel(reason: String)
    case recordCompensation(String)
    case recordFeedback(Feedback)
    /// Someone has taken up an escalation: its ladder stops for the goal (no further levels).
    case acknowledgeEscalation(escalationId: String, by: String, note: String? = nil)

    public struct Start: Sendable, Equatable {
        public var journeyId: String
        public var customerId: String
        public var journeyType: String
        public var tier: String
        /// The id of the process instance in the system it came from (CRM opportunity, order, case).
        public var externalProcessId: String?
        public var owner: String?

        /// A start; `journeyId` may be left out when the command is sent to the journey by id (the
        /// journey it is sent to is the one started).
        public init(journeyId: String = "", customerId: String, journeyType: String, tier: String, externalProcessId: String? = nil, owner: String? = nil) {
            self.journeyId = journeyId
            self.customerId = customerId
            self.journeyType = journeyType
            self.tier = tier
            self.externalProcessId = externalProcessId
            self.owner = owner
        }
    }

    public struct Feedback: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable, CaseIterable {
            /// Customer satisfaction, 1 to 5.
            case csat
            /// Net promoter score, 0 to 10.
            case nps

            public var range: ClosedRange<Int> { self == .csat ? 1...5 : 0...10 }
        }

        public var kind: Kind
        public var score: Int
        public var channel: String
        public var comment: PersonalData?

        public init(kind: Kind, score: Int, channel: String, comment: PersonalData? = nil) {
            self.kind = kind
            self.score = score
            self.channel = channel
            self.comment = comment
        }
    }
}
