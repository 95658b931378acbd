import Foundation

/// What happened to a journey, as stored in its stream `journey-<id>`.
public enum JourneyEvent: Sendable, Equatable {
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
        }
    }

    /// The stored data: JSON with sorted keys.
    public func data() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        switch self {
        case .started(let payload): data = try encoder.encode(payload)
        case .milestoneReached(let payload): data = try encoder.encode(payload)
        case .stageEntered(let payload): data = try encoder.encode(payload)
        case .handoffRequested(let payload): data = try encoder.encode(payload)
        case .handoffAccepted(let payload), .handoffRejected(let payload): data = try encoder.encode(payload)
        case .waitingOnCustomer(let payload), .resumed(let payload): data = try encoder.encode(payload)
        case .ownerReassigned(let payload): data = try encoder.encode(payload)
        case .completed(let payload): data = try encoder.encode(payload)
        case .cancelled(let payload): data = try encoder.encode(payload)
        case .compensationRecorded(let payload): data = try encoder.encode(payload)
        case .feedbackReceived(let payload): data = try encoder.encode(payload)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The event stored with `type` and `data`; nil for a type this domain does not know (an
    /// integration event appended raw).
    /// One decoder for every event (JSONDecoder is thread-safe).
    private static let sharedDecoder = JSONDecoder()

    public static func decode(type: String, data: String) throws -> JourneyEvent? {
        let decoder = sharedDecoder
        let bytes = Data(data.utf8)
        switch type {
        case "JourneyStarted": return .started(try decoder.decode(Started.self, from: bytes))
        case "MilestoneReached": return .milestoneReached(try decoder.decode(MilestoneReached.self, from: bytes))
        case "StageEntered": return .stageEntered(try decoder.decode(StageEntered.self, from: bytes))
        case "HandoffRequested": return .handoffRequested(try decoder.decode(HandoffRequested.self, from: bytes))
        case "HandoffAccepted": return .handoffAccepted(try decoder.decode(HandoffDecided.self, from: bytes))
        case "HandoffRejected": return .handoffRejected(try decoder.decode(HandoffDecided.self, from: bytes))
        case "WaitingOnCustomer": return .waitingOnCustomer(try decoder.decode(Reason.self, from: bytes))
        case "JourneyResumed": return .resumed(try decoder.decode(Reason.self, from: bytes))
        case "OwnerReassigned": return .ownerReassigned(try decoder.decode(OwnerReassigned.self, from: bytes))
        case "JourneyCompleted": return .completed(try decoder.decode(Completed.self, from: bytes))
        case "JourneyCancelled": return .cancelled(try decoder.decode(Cancelled.self, from: bytes))
        case "CompensationRecorded": return .compensationRecorded(try decoder.decode(CompensationRecorded.self, from: bytes))
        case "FeedbackReceived": return .feedbackReceived(try decoder.decode(JourneyCommand.Feedback.self, from: bytes))
        default: return nil
        }
    }
}
