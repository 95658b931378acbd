import Foundation

/// The GDPR article 6 ground a processing rests on.
public enum LegalBasis: String, Sendable, Codable, CaseIterable {
    case consent
    case contract
    case legalObligation = "legal-obligation"
    case vitalInterests = "vital-interests"
    case publicTask = "public-task"
    case legitimateInterests = "legitimate-interests"
}

/// One consent question: a purpose (marketing, product-updates, …) over a channel (email, sms, …).
public struct ConsentScope: Sendable, Hashable, Codable, CustomStringConvertible {
    public var purpose: String
    public var channel: String

    public init(purpose: String, channel: String) {
        self.purpose = purpose
        self.channel = channel
    }

    public var description: String { "\(purpose) by \(channel)" }
}

/// Where and under what terms an answer was given: the notice shown, the place it was collected,
/// and a reference to the proof kept (a signed form, a recorded click).
public struct ConsentRecord: Sendable, Equatable, Codable {
    public var scope: ConsentScope
    public var legalBasis: LegalBasis
    public var noticeVersion: String
    public var collectionPoint: String
    public var proofReference: String
    public var expiresAt: Date?

    public init(scope: ConsentScope, legalBasis: LegalBasis, noticeVersion: String, collectionPoint: String, proofReference: String, expiresAt: Date? = nil) {
        self.scope = scope
        self.legalBasis = legalBasis
        self.noticeVersion = noticeVersion
        self.collectionPoint = collectionPoint
        self.proofReference = proofReference
        self.expiresAt = expiresAt
    }
}

/// A downstream system's report on one consent decision: it applied it (with its own reference
/// as acknowledgement) or failed to (with the reason).
public struct ConsentPropagation: Sendable, Equatable, Codable {
    public var scope: ConsentScope
    /// The system, for example `billing` or `marketing-automation`.
    public var system: String
    /// The id of the decision event (given, refused, withdrawn) the report is about.
    public var decision: UUID
    /// The system's reference for the change, when applied.
    public var acknowledgement: String?
    /// Why the system could not apply it, when failed.
    public var error: String?

    public init(scope: ConsentScope, system: String, decision: UUID, acknowledgement: String? = nil, error: String? = nil) {
        self.scope = scope
        self.system = system
        self.decision = decision
        self.acknowledgement = acknowledgement
        self.error = error
    }
}

/// What a subject said (stream `consent-<subjectId>`), and what downstream systems made of it.
public enum ConsentCommand: Sendable, Equatable {
    case give(ConsentRecord)
    case refuse(ConsentRecord)
    case withdraw(ConsentScope, proofReference: String)
    /// A downstream system applied a decision (`error` nil) or failed to (`error` set).
    case recordPropagation(ConsentPropagation)
}

public enum ConsentEvent: DomainEvent, Equatable {
    case given(ConsentRecord)
    case refused(ConsentRecord)
    case withdrawn(Withdrawn)
    case propagated(ConsentPropagation)
    case propagationFailed(ConsentPropagation)
    /// Recorded by the process manager: a downstream system had not applied a decision by its due
    /// time.
    case propagationOverdue(ConsentPropagationOverdue)

    public struct Withdrawn: Sendable, Equatable, Codable {
        public var scope: ConsentScope
        public var proofReference: String
    }

    public var type: String {
        switch self {
        case .given: return "ConsentGiven"
        case .refused: return "ConsentRefused"
        case .withdrawn: return "ConsentWithdrawn"
        case .propagated: return "ConsentPropagated"
        case .propagationFailed: return "ConsentPropagationFailed"
        case .propagationOverdue: return "ConsentPropagationOverdue"
        }
    }

    public func encode(with codec: EventCodec, subject: String?) throws -> String {
        switch self {
        case .given(let record), .refused(let record): return try codec.encode(record, subject: subject)
        case .withdrawn(let withdrawn): return try codec.encode(withdrawn, subject: subject)
        case .propagated(let report), .propagationFailed(let report): return try codec.encode(report, subject: subject)
        case .propagationOverdue(let overdue): return try codec.encode(overdue, subject: subject)
        }
    }

    /// Every type `decode` knows: the events only this domain's commands write.
    public static let storedTypes: Set<String> = [
        "ConsentGiven", "ConsentRefused", "ConsentWithdrawn", "ConsentPropagated", "ConsentPropagationFailed", "ConsentPropagationOverdue",
    ]

    public static func decode(type: String, data: String, codec: EventCodec) throws -> ConsentEvent? {
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try codec.decode(type, from: data) }
        switch type {
        case "ConsentGiven": return .given(try decode(ConsentRecord.self))
        case "ConsentRefused": return .refused(try decode(ConsentRecord.self))
        case "ConsentWithdrawn": return .withdrawn(try decode(Withdrawn.self))
        case "ConsentPropagated": return .propagated(try decode(ConsentPropagation.self))
        case "ConsentPropagationFailed": return .propagationFailed(try decode(ConsentPropagation.self))
        case "ConsentPropagationOverdue": return .propagationOverdue(try decode(ConsentPropagationOverdue.self))
        default: return nil
        }
    }
}

/// A subject's answers, by scope.
public struct ConsentState: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable {
        case granted, refused, withdrawn
    }

    public struct Answer: Sendable, Equatable {
        public var status: Status
        /// The terms of the last grant or refusal.
        public var record: ConsentRecord?
        /// The event that gave this answer (the grant, refusal or withdrawal).
        public var decidedBy: UUID?

        /// Whether a grant had run out at `instant` (its record's `expiresAt` passed).
        public func isExpired(at instant: Date) -> Bool {
            guard status == .granted, let expiresAt = record?.expiresAt else { return false }
            return expiresAt <= instant
        }
    }

    public var answers: [ConsentScope: Answer] = [:]
    /// Every decision (given, refused, withdrawn) by its event id, with its question: what a
    /// propagation report may name.
    public var decisions: [UUID: ConsentScope] = [:]
    public var version: Int64 = 0

    public init() {}

    /// The state after `event`, stored with id `eventId`.
    public static func evolve(_ state: ConsentState, _ event: ConsentEvent, eventId: UUID) -> ConsentState {
        var next = state
        next.version += 1
        switch event {
        case .given(let record):
            next.answers[record.scope] = Answer(status: .granted, record: record, decidedBy: eventId)
            next.decisions[eventId] = record.scope
        case .refused(let record):
            next.answers[record.scope] = Answer(status: .refused, record: record, decidedBy: eventId)
            next.decisions[eventId] = record.scope
        case .withdrawn(let withdrawn):
            next.answers[withdrawn.scope]?.status = .withdrawn
            next.answers[withdrawn.scope]?.decidedBy = eventId
            next.decisions[eventId] = withdrawn.scope
        case .propagated, .propagationFailed, .propagationOverdue: break
        }
        return next
    }
}

public struct ConsentDecider: Decider {
    public static let category = "consent"

    /// The questions configured in `consent.yaml`, by purpose id.
    public let purposes: [String: ConsentPurpose]

    public init(purposes: [String: ConsentPurpose]) { self.purposes = purposes }

    public var initialState: ConsentState { ConsentState() }

    public func decide(_ command: ConsentCommand, on id: String, state: ConsentState) throws -> [ConsentEvent] {
        try Self.decide(state, command, purposes: purposes).get()
    }

    public func evolve(_ state: ConsentState, _ event: ConsentEvent, eventId: UUID) -> ConsentState {
        ConsentState.evolve(state, event, eventId: eventId)
    }

    public func fingerprint(of command: ConsentCommand, on id: String) -> String { CommandFingerprint.of(command, subject: id) }

    public func subject(of id: String, after state: ConsentState) -> String? { id }

    /// The events `command` produces on `state`, or why it is refused. `purposes` are the questions
    /// configured in `consent.yaml`: consent is given or refused only for one of them, over one of
    /// its channels, and only their downstream systems report propagation. A withdrawal needs only
    /// a grant to withdraw, so that a purpose since removed from the configuration can still be
    /// withdrawn.
    public static func decide(_ state: ConsentState, _ command: ConsentCommand, purposes: [String: ConsentPurpose]) -> Result<[ConsentEvent], Rejection> {
        do {
            switch command {
            case .give(let record):
                try check(record, purposes)
                if let answer = state.answers[record.scope], answer.status == .granted, answer.record == record {
                    throw Rejection(.consentUnchanged, "consent for \(record.scope) was already given on these terms")
                }
                return .success([.given(record)])
            case .refuse(let record):
                try check(record, purposes)
                if let answer = state.answers[record.scope], answer.status == .refused, answer.record?.noticeVersion == record.noticeVersion {
                    throw Rejection(.consentUnchanged, "consent for \(record.scope) was already refused under notice \(record.noticeVersion)")
                }
                return .success([.refused(record)])
            case .withdraw(let scope, let proof):
                try requireText(proof, "the proof reference")
                guard state.answers[scope]?.status == .granted else {
                    throw Rejection(.consentNotGiven, "consent for \(scope) is not given, so it cannot be withdrawn")
                }
                return .success([.withdrawn(.init(scope: scope, proofReference: proof))])
            case .recordPropagation(let report):
                try requireText(report.system, "the system")
                guard state.answers[report.scope] != nil else {
                    throw Rejection(.consentNotAsked, "consent for \(report.scope) was never asked, so there is no decision to propagate")
                }
                guard state.decisions[report.decision] == report.scope else {
                    throw Rejection(
                        .unknownDecision,
                        "\(report.decision.uuidString.lowercased()) is not a decision on consent for \(report.scope) of this subject: report on the event id of a decision (given, refused, withdrawn)"
                    )
                }
                let downstream = purposes[report.scope.purpose]?.downstream ?? []
                guard downstream.contains(report.system) else {
                    throw Rejection(
                        .systemNotDownstream,
                        "system '\(report.system)' does not apply \(report.scope.purpose) consent; consent.yaml lists \(downstream.isEmpty ? "no downstream systems" : downstream.joined(separator: ", ")) for it"
                    )
                }
                if let error = report.error {
                    try requireText(error, "the error")
                    guard report.acknowledgement == nil else {
                        throw Rejection(.invalidInput, "a propagation report has an acknowledgement (applied) or an error (failed), not both")
                    }
                    return .success([.propagationFailed(report)])
                }
                return .success([.propagated(report)])
            }
        } catch let rejection as Rejection {
            return .failure(rejection)
        } catch {
            return .failure(Rejection(.invalidInput, "\(error)"))
        }
    }

    private static func check(_ record: ConsentRecord, _ purposes: [String: ConsentPurpose]) throws {
        try requireText(record.scope.purpose, "the purpose")
        try requireText(record.scope.channel, "the channel")
        try requireText(record.noticeVersion, "the notice version")
        try requireText(record.collectionPoint, "the collection point")
        try requireText(record.proofReference, "the proof reference")
        guard let purpose = purposes[record.scope.purpose] else {
            let known = purposes.keys.sorted()
            throw Rejection(
                .unknownPurpose,
                "purpose '\(record.scope.purpose)' is not in consent.yaml; configured: \(known.isEmpty ? "none" : known.joined(separator: ", "))")
        }
        guard purpose.channels.contains(record.scope.channel) else {
            throw Rejection(
                .unknownChannel,
                "purpose \(purpose.name) is not asked over '\(record.scope.channel)'; consent.yaml lists \(purpose.channels.joined(separator: ", "))")
        }
    }

    private static func requireText(_ text: String, _ what: String) throws {
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw Rejection(.invalidInput, "\(what) must not be empty") }
    }
}
