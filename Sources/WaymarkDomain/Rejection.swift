/// A command the domain refused: a code a program can branch on and a message for a person.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
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
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
