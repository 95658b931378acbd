import Foundation
import WaymarkDomain
import WaymarkEventStore

/// One command of a batch: what to do to which journey, with its id and metadata.
public struct JourneyCommandRequest: Sendable {
    public var journeyId: String
    public var command: JourneyCommand
    public var context: CommandContext

    /// A request is one command: left out, its id is chosen here, once, so that sending the same
    /// request again is a retry.
    public init(_ command: JourneyCommand, to journeyId: String, context: CommandContext = CommandContext()) {
        self.journeyId = journeyId
        self.command = command
        self.context = context
        self.context.commandId = context.commandId ?? UUID()
    }
}

extension WaymarkClient {
    /// Sends several commands, each with the guarantees of `send(_:to:context:)`, and returns each
    /// one's outcome in the order given: its result, or why it was refused (`Rejection`,
    /// `CommandConflictError`, `ClientError`). Throws only when the store fails (or `commandTimeout`
    /// passes); then any of the commands may have been applied, and sending the batch again with the
    /// same command ids learns which.
    ///
    /// Commands to journeys the client remembers (and starts of new journeys) are decided on the
    /// remembered state and written together in one statement (`Session.append(_:)`), which is how
    /// an integration or the simulator reaches tens of thousands of commands per second. The rest,
    /// and all of them when one journey moved on under the batch, go one by one through the loading
    /// path. Several commands to one journey apply in the order given.
    public func send(_ requests: [JourneyCommandRequest]) async throws -> [Result<CommandResult, any Error>] {
        try await recordDefinitions(of: requests.lazy.map(\.command))
        return try await withTimeout {
            try await self.store.withSession { session in try await self.send(requests, session: session) }
        }
    }

    /// The commands of one journey decided on its remembered state, in the batch's order.
    private struct JourneyPart {
        var journeyId: String
        var expectedVersion: Int64
        var state: JourneyState
        var events: [EventData] = []
        /// Each command's index in the batch and how many events it produced.
        var commands: [(index: Int, eventCount: Int)] = []
    }

    private func send(_ requests: [JourneyCommandRequest], session: Session) async throws -> [Result<CommandResult, any Error>] {
        var outcomes = [Result<CommandResult, any Error>?](repeating: nil, count: requests.count)
        var parts: [JourneyPart] = []
        var partIndex: [String: Int] = [:]
        // A journey whose command could not be decided on its remembered state goes the loading way
        // from that command on, so its commands keep their order.
        var loading: [Int] = []
        var loadingJourneys = Set<String>()
        // A command id given twice in one batch: the second goes the loading way after the first
        // was written, where it is a retry of the first or refused as `command_id_reused`.
        var commandIds = Set<UUID>()
        commandIds.reserveCapacity(requests.count)
        // Each command's id fixed once: a command sent again below must keep it.
        let contexts = requests.map { $0.context.resolved(sender: configuration.sender) }
        for (index, request) in requests.enumerated() {
            do {
                try Self.checkStart(request.command, to: request.journeyId)
            } catch {
                outcomes[index] = .failure(error)
                continue
            }
            let existing = partIndex[request.journeyId].map { parts[$0] }
            if !commandIds.insert(contexts[index].commandId).inserted {
                loadingJourneys.insert(request.journeyId)
            }
            if loadingJourneys.contains(request.journeyId) {
                loading.append(index)
                continue
            }
            let from = existing.map { StateCache<JourneyState>.Entry(state: $0.state, streamVersion: $0.expectedVersion + Int64($0.events.count)) }
            guard let decided = decideRemembered(journeyCommand(request.command, to: request.journeyId), context: contexts[index], from: from) else {
                loading.append(index)
                loadingJourneys.insert(request.journeyId)
                continue
            }
            var part = existing ?? JourneyPart(journeyId: request.journeyId, expectedVersion: decided.expectedVersion, state: decided.state)
            part.state = decided.state
            part.events += decided.events
            part.commands.append((index, decided.events.count))
            if let at = partIndex[request.journeyId] {
                parts[at] = part
            } else {
                partIndex[request.journeyId] = parts.count
                parts.append(part)
            }
        }
        if !parts.isEmpty {
            do {
                let results = try await session.append(
                    parts.map { StreamAppend(to: Self.streamName(journey: $0.journeyId), expected: .exact($0.expectedVersion), events: $0.events) })
                for (part, result) in zip(parts, results) {
                    if result.replayed {
                        journeys.forget(part.journeyId)
                    } else {
                        journeys.remember(part.journeyId, .init(state: part.state, streamVersion: result.streamVersion))
                    }
                    let all = CommandResult(result, events: part.events).events
                    var offset = 0
                    for command in part.commands {
                        outcomes[command.index] = .success(CommandResult(events: Array(all[offset..<offset + command.eventCount]), replayed: result.replayed))
                        offset += command.eventCount
                    }
                }
            } catch let error where error is WrongExpectedVersionError || (error as? EventStoreError)?.code == .idempotencyConflict {
                // A journey moved on, or a command was handled before: each goes the loading way.
                for part in parts {
                    journeys.forget(part.journeyId)
                    loading += part.commands.map(\.index)
                }
                loading.sort()
            }
        }
        for index in loading {
            let request = requests[index]
            do {
                outcomes[index] = .success(
                    try await sendLoading(journeyCommand(request.command, to: request.journeyId), context: contexts[index], session: session))
            } catch let error where Self.isCommandOutcome(error) {
                outcomes[index] = .failure(error)
            }
        }
        return outcomes.map { $0! }
    }

    /// Errors that are a command's own outcome rather than a failure of the store.
    static func isCommandOutcome(_ error: any Error) -> Bool {
        error is Rejection || error is CommandConflictError || error is ClientError
    }
}
