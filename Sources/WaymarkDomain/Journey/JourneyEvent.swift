import Foundation

/// What happened to a journey, as stored in its stream `journey-<id>`.
public enum JourneyEvent: DomainEvent, Equatable {
    case started(Started)
    case milestoneReached(MilestoneReached)
    case stageEntered(StageEntered)
    case handoffRequested(HandoffRequested)
    case handoffAccepted(HandoffDecided)
    case handoffRejected(HandoffDecided)
    case waitingOnCustomer(Reason)
    case resumed(Reason)
    case ownerReassigned(OwnerReassigned)
    case completed(Completed)
    case cancelled(Cancelled)
    case compensationRecorded(CompensationRecorded)
    case feedbackReceived(JourneyCommand.Feedback)
    // Recorded by the process manager (see AutomatedDecisions.swift), and the answer to them.
    case stalled(Stalled)
    case slaThresholdCrossed(SlaCrossed)
    case slaBreached(SlaCrossed)
    case escalationRaised(EscalationRaised)
    case escalationAcknowledged(EscalationAcknowledged)
    case priorityRaised(PriorityRaised)

    public struct Started: Sendable, Equatable, Codable {
        public var journeyId: String
        public var customerId: String
        public var journeyType: String
        /// The definition version the journey runs under from now on (`name+hash`).
        public var definitionVersion: String
        public var tier: String
        public var stage: String
        public var department: String
        public var externalProcessId: String?
        public var owner: String?
    }

    public struct MilestoneReached: Sendable, Equatable, Codable {
        public var milestone: String
        public var stage: String
    }

    public struct StageEntered: Sendable, Equatable, Codable {
        public var stage: String
        public var department: String
        public var fromStage: String
    }

    public struct HandoffRequested: Sendable, Equatable, Codable {
        public var fromStage: String
        public var toStage: String
        public var fromDepartment: String
        public var toDepartment: String
        public var facts: [String: String]
    }

    public struct HandoffDecided: Sendable, Equatable, Codable {
        public var toStage: String
        public var by: String
        public var reason: String?
    }

    public struct Reason: Sendable, Equatable, Codable {
        public var reason: String?
    }

    public struct OwnerReassigned: Sendable, Equatable, Codable {
        public var from: String?
        public var to: String
    }

    public struct Completed: Sendable, Equatable, Codable {
        public var stage: String
    }

    public struct Cancelled: Sendable, Equatable, Codable {
        public var reason: String
        /// What must be undone for the milestones already reached, as the definition names it.
        public var compensationsOwed: [String]
    }

    public struct CompensationRecorded: Sendable, Equatable, Codable {
        public var compensation: String
    }

    /// The stored event type.
    public var type: String {
        switch self {
        case .started: return "JourneyStarted"
        case .milestoneReached: return "MilestoneReached"
        case .stageEntered: return "StageEntered"
        case .handoffRequested: return "HandoffRequested"
        case .handoffAccepted: return "HandoffAccepted"
        case .handoffRejected: return "HandoffRejected"
        case .waitingOnCustomer: return "WaitingOnCustomer"
        case .resumed: return "JourneyResumed"
        case .ownerReassigned: return "OwnerReassigned"
        case .completed: return "JourneyCompleted"
        case .cancelled: return "JourneyCancelled"
        case .compensationRecorded: return "CompensationRecorded"
        case .feedbackReceived: return "FeedbackReceived"
        case .stalled: return "JourneyStalled"
        case .slaThresholdCrossed: return "SlaThresholdCrossed"
        case .slaBreached: return "SlaBreached"
        case .escalationRaised: return "EscalationRaised"
        case .escalationAcknowledged: return "EscalationAcknowledged"
        case .priorityRaised: return "PriorityRaised"
        }
    }

    /// The stored data: JSON with sorted keys, through `codec`.
    public func encode(with codec: EventCodec, subject: String?) throws -> String {
        switch self {
        case .started(let payload): return try codec.encode(payload, subject: subject)
        case .milestoneReached(let payload): return try codec.encode(payload, subject: subject)
        case .stageEntered(let payload): return try codec.encode(payload, subject: subject)
        case .handoffRequested(let payload): return try codec.encode(payload, subject: subject)
        case .handoffAccepted(let payload), .handoffRejected(let payload): return try codec.encode(payload, subject: subject)
        case .waitingOnCustomer(let payload), .resumed(let payload): return try codec.encode(payload, subject: subject)
        case .ownerReassigned(let payload): return try codec.encode(payload, subject: subject)
        case .completed(let payload): return try codec.encode(payload, subject: subject)
        case .cancelled(let payload): return try codec.encode(payload, subject: subject)
        case .compensationRecorded(let payload): return try codec.encode(payload, subject: subject)
        case .feedbackReceived(let payload): return try codec.encode(payload, subject: subject)
        case .stalled(let payload): return try codec.encode(payload, subject: subject)
        case .slaThresholdCrossed(let payload), .slaBreached(let payload): return try codec.encode(payload, subject: subject)
        case .escalationRaised(let payload): return try codec.encode(payload, subject: subject)
        case .escalationAcknowledged(let payload): return try codec.encode(payload, subject: subject)
        case .priorityRaised(let payload): return try codec.encode(payload, subject: subject)
        }
    }

    /// Every type `decode` knows: the events only this domain's commands write.
    public static let storedTypes: Set<String> = [
        "JourneyStarted", "MilestoneReached", "StageEntered", "HandoffRequested", "HandoffAccepted", "HandoffRejected", "WaitingOnCustomer", "JourneyResumed",
        "OwnerReassigned", "JourneyCompleted", "JourneyCancelled", "CompensationRecorded", "FeedbackReceived", "JourneyStalled", "SlaThresholdCrossed",
        "SlaBreached", "EscalationRaised", "EscalationAcknowledged", "PriorityRaised",
    ]

    /// The event stored with `type` and `data`; nil for a type this domain does not know (an
    /// integration event appended raw).
    public static func decode(type: String, data: String, codec: EventCodec) throws -> JourneyEvent? {
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try codec.decode(type, from: data) }
        switch type {
        case "JourneyStarted": return .started(try decode(Started.self))
        case "MilestoneReached": return .milestoneReached(try decode(MilestoneReached.self))
        case "StageEntered": return .stageEntered(try decode(StageEntered.self))
        case "HandoffRequested": return .handoffRequested(try decode(HandoffRequested.self))
        case "HandoffAccepted": return .handoffAccepted(try decode(HandoffDecided.self))
        case "HandoffRejected": return .handoffRejected(try decode(HandoffDecided.self))
        case "WaitingOnCustomer": return .waitingOnCustomer(try decode(Reason.self))
        case "JourneyResumed": return .resumed(try decode(Reason.self))
        case "OwnerReassigned": return .ownerReassigned(try decode(OwnerReassigned.self))
        case "JourneyCompleted": return .completed(try decode(Completed.self))
        case "JourneyCancelled": return .cancelled(try decode(Cancelled.self))
        case "CompensationRecorded": return .compensationRecorded(try decode(CompensationRecorded.self))
        case "FeedbackReceived": return .feedbackReceived(try decode(JourneyCommand.Feedback.self))
        case "JourneyStalled": return .stalled(try decode(Stalled.self))
        case "SlaThresholdCrossed": return .slaThresholdCrossed(try decode(SlaCrossed.self))
        case "SlaBreached": return .slaBreached(try decode(SlaCrossed.self))
        case "EscalationRaised": return .escalationRaised(try decode(EscalationRaised.self))
        case "EscalationAcknowledged": return .escalationAcknowledged(try decode(EscalationAcknowledged.self))
        case "PriorityRaised": return .priorityRaised(try decode(PriorityRaised.self))
        default: return nil
        }
    }
}
