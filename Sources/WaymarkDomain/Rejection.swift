import WaymarkErrors

/// A command the domain refused: a code a program can branch on and a message for a person.
public struct Rejection: WaymarkError, Equatable {
    /// Why: printed as documented (`transition_not_allowed`). New codes may come: a `switch` over
    /// them needs a `default`.
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidInput = "invalid_input"
            case journeyNotStarted = "journey_not_started"
            case journeyAlreadyStarted = "journey_already_started"
            case journeyClosed = "journey_closed"
            case wrongDefinition = "wrong_definition"
            case unknownTier = "unknown_tier"
            case unknownStage = "unknown_stage"
            case unknownMilestone = "unknown_milestone"
            case milestoneNotInStage = "milestone_not_in_stage"
            case milestoneAlreadyReached = "milestone_already_reached"
            case transitionNotAllowed = "transition_not_allowed"
            case handoffRequired = "handoff_required"
            case notAHandoff = "not_a_handoff"
            case handoffAlreadyPending = "handoff_already_pending"
            case noPendingHandoff = "no_pending_handoff"
            case acceptanceCriteriaMissing = "acceptance_criteria_missing"
            case alreadyWaitingOnCustomer = "already_waiting_on_customer"
            case notWaitingOnCustomer = "not_waiting_on_customer"
            case waitingOnCustomer = "waiting_on_customer"
            case sameOwner = "same_owner"
            case scoreOutOfRange = "score_out_of_range"
            case compensationNotOwed = "compensation_not_owed"
            case customerNotRegistered = "customer_not_registered"
            case customerAlreadyRegistered = "customer_already_registered"
            case customerMerged = "customer_merged"
            case externalIDAlreadyLinked = "external_id_already_linked"
            case externalIDLinkedElsewhere = "external_id_linked_elsewhere"
            case mergeIntoItself = "merge_into_itself"
            case consentUnchanged = "consent_unchanged"
            case consentNotGiven = "consent_not_given"
            case consentNotAsked = "consent_not_asked"
            case unknownPurpose = "unknown_purpose"
            case unknownChannel = "unknown_channel"
            case unknownDecision = "unknown_decision"
            case systemNotDownstream = "system_not_downstream"
            case unknownEscalation = "unknown_escalation"
            case escalationAlreadyAcknowledged = "escalation_already_acknowledged"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A command field that is empty, malformed or out of its limits.
        public static let invalidInput = Code(.invalidInput)
        /// The journey has no `JourneyStarted`.
        public static let journeyNotStarted = Code(.journeyNotStarted)
        /// A start for a journey id already used.
        public static let journeyAlreadyStarted = Code(.journeyAlreadyStarted)
        /// The journey is completed or cancelled.
        public static let journeyClosed = Code(.journeyClosed)
        /// A start under the definition of another journey type.
        public static let wrongDefinition = Code(.wrongDefinition)
        /// A tier the definition does not list.
        public static let unknownTier = Code(.unknownTier)
        /// A stage the definition does not list.
        public static let unknownStage = Code(.unknownStage)
        /// A milestone the definition does not list.
        public static let unknownMilestone = Code(.unknownMilestone)
        /// A milestone of another stage than the current one.
        public static let milestoneNotInStage = Code(.milestoneNotInStage)
        /// A milestone already reached in this stage visit.
        public static let milestoneAlreadyReached = Code(.milestoneAlreadyReached)
        /// A move the definition's transitions do not allow.
        public static let transitionNotAllowed = Code(.transitionNotAllowed)
        /// A move across departments that needs a handoff.
        public static let handoffRequired = Code(.handoffRequired)
        /// A handoff between stages of one department.
        public static let notAHandoff = Code(.notAHandoff)
        /// A handoff while another awaits its answer.
        public static let handoffAlreadyPending = Code(.handoffAlreadyPending)
        /// An answer to a handoff nobody requested.
        public static let noPendingHandoff = Code(.noPendingHandoff)
        /// An acceptance without the criteria the handoff requires.
        public static let acceptanceCriteriaMissing = Code(.acceptanceCriteriaMissing)
        /// A pause while already waiting on the customer.
        public static let alreadyWaitingOnCustomer = Code(.alreadyWaitingOnCustomer)
        /// A resume while not waiting on the customer.
        public static let notWaitingOnCustomer = Code(.notWaitingOnCustomer)
        /// A step the journey cannot take while waiting on the customer.
        public static let waitingOnCustomer = Code(.waitingOnCustomer)
        /// A reassignment to the current owner.
        public static let sameOwner = Code(.sameOwner)
        /// A CSAT (1-5) or NPS (0-10) score outside its range.
        public static let scoreOutOfRange = Code(.scoreOutOfRange)
        /// A compensation no reached milestone owes, or one already done.
        public static let compensationNotOwed = Code(.compensationNotOwed)
        /// A customer id never registered.
        public static let customerNotRegistered = Code(.customerNotRegistered)
        /// A registration of a customer id already registered.
        public static let customerAlreadyRegistered = Code(.customerAlreadyRegistered)
        /// A command for a customer merged into another (use the survivor).
        public static let customerMerged = Code(.customerMerged)
        /// An external id already linked to this customer.
        public static let externalIDAlreadyLinked = Code(.externalIDAlreadyLinked)
        /// An external id linked to another customer.
        public static let externalIDLinkedElsewhere = Code(.externalIDLinkedElsewhere)
        /// A merge of a customer into itself.
        public static let mergeIntoItself = Code(.mergeIntoItself)
        /// An answer equal to the one in force.
        public static let consentUnchanged = Code(.consentUnchanged)
        /// A withdrawal of consent never given.
        public static let consentNotGiven = Code(.consentNotGiven)
        /// A propagation report about a question the subject was never asked.
        public static let consentNotAsked = Code(.consentNotAsked)
        /// A consent purpose `consent.yaml` does not list.
        public static let unknownPurpose = Code(.unknownPurpose)
        /// A channel `consent.yaml` does not ask the purpose over.
        public static let unknownChannel = Code(.unknownChannel)
        /// A propagation report for a decision the subject never made.
        public static let unknownDecision = Code(.unknownDecision)
        /// A propagation report from a system not downstream of the purpose.
        public static let systemNotDownstream = Code(.systemNotDownstream)
        /// An acknowledgement of an escalation the journey never raised.
        public static let unknownEscalation = Code(.unknownEscalation)
        /// An acknowledgement of an escalation already acknowledged.
        public static let escalationAlreadyAcknowledged = Code(.escalationAlreadyAcknowledged)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }

        /// The code in snake_case, as documented.
        public var name: String { base.rawValue }

        /// The name (what `Code` was an enum of before the error contract).
        @available(*, deprecated, renamed: "name")
        public var rawValue: String { name }

        /// Most rejections are the rules refusing a well-formed command (`refused`); a malformed
        /// one is `invalid_input`, one naming what does not exist `not_found`, a repeated start or
        /// registration a `conflict`.
        public var kind: ErrorKind {
            switch base {
            case .invalidInput, .unknownTier, .unknownStage, .unknownMilestone, .scoreOutOfRange, .mergeIntoItself, .unknownPurpose, .unknownChannel:
                return .invalidInput
            case .journeyNotStarted, .customerNotRegistered, .unknownDecision, .unknownEscalation:
                return .notFound
            case .journeyAlreadyStarted, .customerAlreadyRegistered:
                return .conflict
            case .journeyClosed, .wrongDefinition, .milestoneNotInStage, .milestoneAlreadyReached, .transitionNotAllowed, .handoffRequired, .notAHandoff,
                .handoffAlreadyPending, .noPendingHandoff, .acceptanceCriteriaMissing, .alreadyWaitingOnCustomer, .notWaitingOnCustomer, .waitingOnCustomer,
                .sameOwner, .compensationNotOwed, .customerMerged, .externalIDAlreadyLinked, .externalIDLinkedElsewhere, .consentUnchanged, .consentNotGiven,
                .consentNotAsked, .systemNotDownstream, .escalationAlreadyAcknowledged:
                return .refused
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
