import Foundation
import WaymarkDomain
import WaymarkEventStore

/// A command to one stream, in the shape every single-stream decider of the domain has: load the
/// stream into a state, decide, append with the loaded version. Journeys, consent and customer
/// registration all go this way (see `WaymarkClient.send(_:context:session:)`).
struct StreamCommand<State: Sendable>: Sendable {
    var stream: String
    /// The key of the stream's state in `cache`.
    var key: String
    var cache: StateCache<State>
    /// The state of a stream with no events.
    var empty: State
    /// Whether the command is one that creates its stream (a start, a registration): when the
    /// stream's state is not remembered it is tried on no stream, with the append's expectation
    /// (version 0) as the check.
    var createsStream: Bool
    /// Folds a stored event into the state (events the domain does not know leave it alone).
    var evolve: @Sendable (State, RecordedEvent) throws -> State
    /// What the command asks, as `CommandFingerprint` digests it: stored with its events, compared
    /// with what an earlier command under the same id stored.
    var fingerprint: String
    /// The command's events on `state`, with ids and metadata from `ids`, and the state after them,
    /// or why it is refused.
    var decideWith: @Sendable (State, EventIDs) throws -> (events: [EventData], after: State)

    /// What `decide` needs fetched first for a loaded state (a journey's definition version that
    /// only the log records).
    var prepare: (@Sendable (State) async throws -> Void)? = nil

    /// The command's events on `state` under `context`, and the state after them.
    func decide(_ state: State, _ context: CommandContext) throws -> (events: [EventData], after: State) {
        try decideWith(state, EventIDs(context, fingerprint: fingerprint))
    }
}

/// A command decided on a remembered state: its events, the state after them and the version the
/// stream must still have.
struct Decided<State: Sendable> {
    var events: [EventData]
    var state: State
    var expectedVersion: Int64
}

extension WaymarkClient {
    /// Sends `command` within `commandTimeout`, on one session: the stream is loaded, decided and
    /// appended on one connection's thread.
    func send<State>(_ command: StreamCommand<State>, context: CommandContext) async throws -> CommandResult {
        try await withTimeout { try await self.store.withSession { try await self.send(command, context: context, session: $0) } }
    }

    /// Decides `command` and appends what it produces, deciding again when another writer got there
    /// first; a command handled before returns what it wrote.
    func send<State>(_ command: StreamCommand<State>, context: CommandContext, session: Session) async throws -> CommandResult {
        if let result = try await sendRemembered(command, context: context, session: session) { return result }
        return try await sendLoading(command, context: context, session: session)
    }

    /// The one-round-trip path: the command decided on the remembered state of its stream (or on no
    /// stream, for one that creates it) and appended with the remembered version. Nil when the
    /// stream is not remembered, the command is refused on it (perhaps only because it was handled
    /// before), or the stream moved on: then the loading path decides.
    private func sendRemembered<State>(_ command: StreamCommand<State>, context: CommandContext, session: Session) async throws -> CommandResult? {
        guard let decided = decideRemembered(command, context: context) else { return nil }
        do {
            let result = try await session.append(to: command.stream, expected: .exact(decided.expectedVersion), events: decided.events)
            if result.replayed {
                command.cache.forget(command.key)
            } else {
                command.cache.remember(command.key, .init(state: decided.state, streamVersion: result.streamVersion))
            }
            return CommandResult(result, events: decided.events)
        } catch is WrongExpectedVersionError {
            command.cache.forget(command.key)
            return nil
        } catch let error as EventStoreError where error.code == .idempotencyConflict {
            // The command was handled before and decides differently on the state after it.
            command.cache.forget(command.key)
            return nil
        }
    }

    /// `command` decided on `known`, else on its stream's remembered state, else (for a command
    /// that creates its stream) on no stream; nil when none applies or the decision is a refusal.
    func decideRemembered<State>(_ command: StreamCommand<State>, context: CommandContext, from known: StateCache<State>.Entry? = nil) -> Decided<State>? {
        let remembered: StateCache<State>.Entry
        if let known {
            remembered = known
        } else if let entry = command.cache.entry(for: command.key) {
            remembered = entry
        } else if command.createsStream, command.cache.capacity > 0 {
            remembered = .init(state: command.empty, streamVersion: 0)
        } else {
            return nil
        }
        guard let (events, after) = try? command.decide(remembered.state, context) else { return nil }
        return Decided(events: events, state: after, expectedVersion: remembered.streamVersion)
    }

    /// The loading path: what the command wrote before, if it was handled; else the stream loaded,
    /// decided and appended with the loaded version, decided again on a conflict.
    func sendLoading<State>(_ command: StreamCommand<State>, context: CommandContext, session: Session) async throws -> CommandResult {
        if let earlier = try await earlierResult(of: context.commandId, fingerprint: command.fingerprint, session: session) {
            guard earlier.events.allSatisfy({ $0.streamName == command.stream }) else {
                throw ClientError(
                    code: .invalidInput, message: "command \(context.commandId) was already handled for \(earlier.streamName), not \(command.stream)")
            }
            return earlier
        }
        for attempt in 1...maxAttempts {
            let (state, version) = try await session.fold(command.stream, into: command.empty, command.evolve)
            try await command.prepare?(state)
            let (events, after) = try command.decide(state, context)
            do {
                let result = try await session.append(to: command.stream, expected: .exact(version), events: events)
                if !result.replayed { command.cache.remember(command.key, .init(state: after, streamVersion: result.streamVersion)) }
                return CommandResult(result, events: events)
            } catch is WrongExpectedVersionError {
                logger.debug(
                    "stream moved on under a command, deciding again", metadata: ["waymark.stream": "\(command.stream)", "waymark.attempt": "\(attempt)"])
            }
        }
        command.cache.forget(command.key)
        throw CommandConflictError(streamName: command.stream, attempts: maxAttempts)
    }

    /// What `commandId` wrote before, if it was handled: its events carry ids derived from it.
    /// Throws `command_id_reused` when they were written by a command other than the one with
    /// `fingerprint`: the id was given to two commands, and answering the second with the first's
    /// result would drop it silently.
    func earlierResult(of commandId: UUID, fingerprint: String, session: Session) async throws -> CommandResult? {
        var found: [RecordedEvent] = []
        while let event = try await session.event(withId: CommandIDs.eventID(command: commandId, index: found.count)) {
            if found.isEmpty { try Self.checkSameCommand(event, commandId: commandId, fingerprint: fingerprint) }
            found.append(event)
        }
        guard !found.isEmpty else { return nil }
        return CommandResult(
            events: found.map {
                CommandResult.Appended(streamName: $0.streamName, id: $0.id, type: $0.type, streamVersion: $0.streamVersion, position: $0.position)
            },
            replayed: true)
    }
}
