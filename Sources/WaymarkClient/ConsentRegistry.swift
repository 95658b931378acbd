import Foundation
import WaymarkDomain
import WaymarkEventStore

/// Consent answers per subject (stream `consent-<subjectId>`), idempotent by command id.
public struct ConsentRegistry: Sendable {
    public let client: WaymarkClient

    public init(client: WaymarkClient) { self.client = client }

    public static func streamName(subject subjectId: String) -> String { "consent-\(subjectId)" }

    @discardableResult
    public func record(_ command: ConsentCommand, subject subjectId: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        let command = StreamCommand(
            stream: Self.streamName(subject: subjectId), key: subjectId, cache: client.consentSubjects, empty: ConsentState(), createsStream: false,
            evolve: Self.evolve, fingerprint: CommandFingerprint.of(command, subject: subjectId),
            decideWith: { [purposes = client.catalog.consentPurposes] state, ids in
                let events = try ConsentDecider.decide(state, command, purposes: purposes).get()
                let stored = try ids.next(events, correlation: subjectId)
                return (stored, zip(events, stored).reduce(state) { ConsentState.evolve($0, $1.0, eventId: $1.1.id) })
            })
        return try await client.send(command, context: context)
    }

    @Sendable static func evolve(_ state: ConsentState, _ recorded: RecordedEvent) throws -> ConsentState {
        try ConsentEvent.decode(type: recorded.type, data: recorded.data).map { ConsentState.evolve(state, $0, eventId: recorded.id) } ?? state
    }

    /// The subject's answers now.
    public func consents(of subjectId: String) async throws -> ConsentState {
        try await client.store.transaction { try await load(subjectId, $0).0 }
    }

    /// The subject's answers as they stood at `instant`, read from the log: decisions that
    /// happened (`occurredAt`, else when recorded) after it are left out. `Answer.isExpired(at:)`
    /// tells a grant that had run out by then.
    public func consents(of subjectId: String, asOf instant: Date) async throws -> ConsentState {
        try await client.store.transaction { transaction in
            try await transaction.fold(Self.streamName(subject: subjectId), into: ConsentState()) { state, recorded in
                (recorded.occurredAt) <= instant ? try Self.evolve(state, recorded) : state
            }.0
        }
    }

    private func load(_ subjectId: String, _ transaction: Transaction) async throws -> (ConsentState, Int64) {
        try await transaction.fold(Self.streamName(subject: subjectId), into: ConsentState(), Self.evolve)
    }
}
