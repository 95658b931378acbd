import Crypto
import Foundation
import WaymarkDomain

/// What a command asks, reduced to a digest: SHA-256 over its kind, its target and every field of
/// its content in a fixed, length-prefixed encoding (not its context: actor, source system and
/// occurred-at may differ on a retry). Stored in the metadata of each event the command writes
/// (`extra.command_fingerprint`), so that an id found in the log is a retry only when the command
/// sent with it now is the same one. Not built from `description` or `String(reflecting:)`:
/// `PersonalData` hides its value there, and two registrations differing only in a name would look
/// the same.
public struct CommandFingerprint: Sendable {
    /// The metadata key the fingerprint is stored under.
    public static let metadataKey = "command_fingerprint"

    private var hasher = SHA256()

    public init(_ kind: String) { add(kind) }

    public mutating func add(_ text: String) {
        var text = text
        add(UInt64(text.utf8.count))
        text.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    public mutating func add(_ text: String?) {
        add(text != nil)
        if let text { add(text) }
    }

    public mutating func add(_ flag: Bool) { add(UInt64(flag ? 1 : 0)) }

    public mutating func add(_ number: Int) { add(UInt64(bitPattern: Int64(number))) }

    public mutating func add(_ date: Date?) {
        add(date != nil)
        if let date { add(date.timeIntervalSinceReferenceDate.bitPattern) }
    }

    public mutating func add(_ number: UInt64) {
        withUnsafeBytes(of: number.bigEndian) { hasher.update(bufferPointer: $0) }
    }

    /// The first 16 bytes of the digest as hex: enough to tell commands apart, and short in every
    /// event's metadata.
    public func finish() -> String {
        let digest = hasher.finalize()
        var out = ""
        out.reserveCapacity(32)
        for byte in digest.prefix(16) {
            out.append(Self.hexDigits[Int(byte >> 4)])
            out.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        return out
    }

    private static let hexDigits = Array("0123456789abcdef")
}

extension CommandFingerprint {
    public static func of(_ command: JourneyCommand, to journeyId: String) -> String {
        var key = CommandFingerprint("journey")
        key.add(journeyId)
        switch command {
        case .start(let start):
            key.add("start")
            for text in [start.journeyId, start.customerId, start.journeyType, start.tier] { key.add(text) }
            key.add(start.externalProcessId)
            key.add(start.owner)
        case .reachMilestone(let milestone):
            key.add("reachMilestone")
            key.add(milestone)
        case .moveToStage(let stage):
            key.add("moveToStage")
            key.add(stage)
        case .requestHandoff(let stage, let facts):
            key.add("requestHandoff")
            key.add(stage)
            key.add(facts.count)
            for (name, value) in facts.sorted(by: { $0.key < $1.key }) {
                key.add(name)
                key.add(value)
            }
        case .acceptHandoff(let by):
            key.add("acceptHandoff")
            key.add(by)
        case .rejectHandoff(let by, let reason):
            key.add("rejectHandoff")
            key.add(by)
            key.add(reason)
        case .waitOnCustomer(let reason):
            key.add("waitOnCustomer")
            key.add(reason)
        case .resume:
            key.add("resume")
        case .reassignOwner(let owner):
            key.add("reassignOwner")
            key.add(owner)
        case .complete:
            key.add("complete")
        case .cancel(let reason):
            key.add("cancel")
            key.add(reason)
        case .recordCompensation(let compensation):
            key.add("recordCompensation")
            key.add(compensation)
        case .recordFeedback(let feedback):
            key.add("recordFeedback")
            key.add(feedback.kind.rawValue)
            key.add(feedback.score)
            key.add(feedback.channel)
            key.add(feedback.comment?.value)
        case .acknowledgeEscalation(let escalationId, let by, let note):
            key.add("acknowledgeEscalation")
            key.add(escalationId)
            key.add(by)
            key.add(note)
        }
        return key.finish()
    }

    /// A command to one customer record (`register`, `changeTier`).
    public static func of(_ command: CustomerCommand, to customerId: String) -> String {
        var key = CommandFingerprint("customer")
        key.add(customerId)
        switch command {
        case .register(let id, let name, let email, let phone, let tier):
            key.add("register")
            key.add(id)
            key.add(name.value)
            key.add(email?.value)
            key.add(phone?.value)
            key.add(tier)
        case .linkExternalID(let id):
            key.add("linkExternalID")
            key.add(id.system)
            key.add(id.id)
        case .changeTier(let tier):
            key.add("changeTier")
            key.add(tier)
        case .mergeInto(let survivor):
            key.add("mergeInto")
            key.add(survivor)
        case .absorb(let duplicate, let ids):
            key.add("absorb")
            key.add(duplicate)
            key.add(ids.count)
            for id in ids {
                key.add(id.system)
                key.add(id.id)
            }
        }
        return key.finish()
    }

    public static func of(_ command: ConsentCommand, subject subjectId: String) -> String {
        var key = CommandFingerprint("consent")
        key.add(subjectId)
        func add(_ record: ConsentRecord) {
            for text in [record.scope.purpose, record.scope.channel, record.legalBasis.rawValue, record.noticeVersion, record.collectionPoint] {
                key.add(text)
            }
            key.add(record.proofReference)
            key.add(record.expiresAt)
        }
        switch command {
        case .give(let record):
            key.add("give")
            add(record)
        case .refuse(let record):
            key.add("refuse")
            add(record)
        case .withdraw(let scope, let proof):
            key.add("withdraw")
            key.add(scope.purpose)
            key.add(scope.channel)
            key.add(proof)
        case .recordPropagation(let report):
            key.add("recordPropagation")
            for text in [report.scope.purpose, report.scope.channel, report.system, report.decision.uuidString] { key.add(text) }
            key.add(report.acknowledgement)
            key.add(report.error)
        }
        return key.finish()
    }
}
