import WaymarkDomain
import WaymarkEventStore

/// Consent answers per subject (stream `consent-<subjectId>`), idempotent by command id.
public struct ConsentRegistry: Sendable {
    public let client: WaymarkClient

    public init(client: WaymarkClient) { self.client = client }

    public static func streamName(subject subjectId: String) -> String { "consent-\(subjectId)" }

    @discardableResult
    public func record(_ command: ConsentCommand, subject subjectId: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        try await client.handle(context: context) { transaction, ids in
            let (state, version) = try await load(subjectId, transaction)
            let events = try ConsentDecider.decide(state, command).get()
            let data = try events.map { ids.next(type: $0.type, data: try $0.data(), correlation: subjectId) }
            return try await transaction.appendForCommand(to: Self.streamName(subject: subjectId), expected: .exact(version), events: data)
        }
    }

    /// The subject's answers now.
    public func consents(of subjectId: String) async throws -> ConsentState {
        try await client.store.transaction { try await load(subjectId, $0).0 }
    }

    private func load(_ subjectId: String, _ transaction: Transaction) async throws -> (ConsentState, Int64) {
        try await transaction.fold(Self.streamName(subject: subjectId), into: ConsentState()) { state, recorded in
            try ConsentEvent.decode(type: recorded.type, data: recorded.data).map { ConsentState.evolve(state, $0) } ?? state
        }
    }
}
