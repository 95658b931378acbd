import Foundation
import WaymarkDomain
import WaymarkEventStore

/// What recording a consent command wrote, and the id of the decision it recorded: a downstream
/// system names that id when it reports applying the decision (`ConsentPropagation.decision`).
@dynamicMemberLookup
public struct ConsentResult: Sendable, Equatable {
    /// The decision's event (given, refused, withdrawn); nil for a propagation report.
    public var decisionId: UUID?
    public var command: CommandResult

    public subscript<T>(dynamicMember keyPath: KeyPath<CommandResult, T>) -> T { command[keyPath: keyPath] }
}

/// Consent answers per subject (stream `consent-<subjectId>`), idempotent by command id.
public struct ConsentRegistry: Sendable {
    public let client: WaymarkClient

    public init(client: WaymarkClient) { self.client = client }

    public static func streamName(subject subjectId: String) -> String { ConsentDecider.streamName(subjectId) }

    /// The consent rules under the purposes the client's configuration holds.
    public var decider: ConsentDecider { ConsentDecider(purposes: client.catalog.consentPurposes) }

    @discardableResult
    public func record(_ command: ConsentCommand, subject subjectId: String, context: CommandContext = CommandContext()) async throws -> ConsentResult {
        Self.result(of: command, try await client.send(command, to: subjectId, with: decider, context: context))
    }

    /// Records `command` inside the caller's `transaction`; see `WaymarkClient.send(_:to:with:context:in:)`.
    @discardableResult
    public func record(_ command: ConsentCommand, subject subjectId: String, context: CommandContext = CommandContext(), in transaction: Transaction)
        async throws -> ConsentResult
    {
        Self.result(of: command, try await client.send(command, to: subjectId, with: decider, context: context, in: transaction))
    }

    static func result(of command: ConsentCommand, _ result: CommandResult) -> ConsentResult {
        if case .recordPropagation = command { return ConsentResult(decisionId: nil, command: result) }
        return ConsentResult(decisionId: result.events.first?.id, command: result)
    }

    /// Folds a stored event into the state, reading it through the client's codec (the decider
    /// made once per fold, not per event).
    private var evolve: @Sendable (ConsentState, RecordedEvent) throws -> ConsentState {
        let (decider, codec) = (decider, client.configuration.codec)
        return { try decider.evolve($0, recorded: $1, codec: codec) }
    }

    /// The subject's answers now.
    public func consents(of subjectId: String) async throws -> ConsentState {
        try await client.store.transaction { try await load(subjectId, $0).0 }
    }

    /// The subject's answers as they stood at `instant`, read from the log: decisions that
    /// happened (`occurredAt`, else when recorded) after it are left out. `Answer.isExpired(at:)`
    /// tells a grant that had run out by then.
    public func consents(of subjectId: String, asOf instant: Date) async throws -> ConsentState {
        let evolve = self.evolve
        return try await client.store.transaction { transaction in
            try await transaction.fold(Self.streamName(subject: subjectId), into: ConsentState()) { state, recorded in
                (recorded.occurredAt) <= instant ? try evolve(state, recorded) : state
            }.0
        }
    }

    private func load(_ subjectId: String, _ transaction: Transaction) async throws -> (ConsentState, Int64) {
        try await transaction.fold(Self.streamName(subject: subjectId), into: ConsentState(), evolve)
    }
}
