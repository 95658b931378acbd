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
    /// How the command's events are stored.
    var codec: EventCodec

    /// The command's events on `state` under `context`, and the state after them.
    func decide(_ state: State, _ context: ResolvedContext) throws -> (events: [EventData], after: State) {
        try decideWith(state, EventIDs(context, fingerprint: fingerprint, codec: codec))
    }
}

extension StreamCommand {
    /// `command` to stream `id` of `decider`'s category, remembered in `cache`.
    init<D: Decider>(
        _ command: D.Command, to id: String, with decider: D, cache: StateCache<State>, codec: EventCodec,
        prepare: (@Sendable (State) async throws -> Void)? = nil
    ) where D.State == State {
        self.init(
            stream: D.streamName(id), key: id, cache: cache, empty: decider.initialState, createsStream: decider.createsStream(command),
            evolve: { try decider.evolve($0, recorded: $1, codec: codec) },
            fingerprint: decider.fingerprint(of: command, on: id),
            decideWith: { state, ids in
                let events = try decider.decide(command, on: id, state: state)
                let after = zip(events, ids.upcoming(events.count)).reduce(state) { decider.evolve($0, $1.0, eventId: $1.1) }
                let stored = try ids.next(events, correlation: decider.correlation(of: id), subject: decider.subject(of: id, after: after))
                return (stored, after)
            },
            prepare: prepare, codec: codec)
    }
}

extension Decider {
    /// The state after a stored event read through `codec`; events of other families (integration
    /// events on the same stream) leave it alone.
    func evolve(_ state: State, recorded: RecordedEvent, codec: EventCodec) throws -> State {
        try Event.decode(type: recorded.type, data: recorded.data, codec: codec).map { evolve(state, $0, eventId: recorded.id) } ?? state
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
    /// Sends `command` within `commandTimeout`. On the remembered state of its stream the command is
    /// decided without a read and appended in one statement, sent from this task's thread (a brief
    /// lease); only the loading path (what the command wrote before, the stream folded, a decision
    /// again after a conflict) holds a session, whose statements run on one connection's thread.
    func send<State>(_ command: StreamCommand<State>, context: ResolvedContext) async throws -> CommandResult {
        try await withTimeout(commandId: context.commandId) {
            if let result = try await self.sendRemembered(command, context: context, append: self.store.append(to:expected:events:)) { return result }
            return try await self.store.withSession { try await self.sendLoading(command, context: context, session: $0) }
        }
    }

    /// The one-round-trip path: the command decided on the remembered state of its stream (or on no
    /// stream, for one that creates it) and appended with the remembered version through `append`.
    /// Nil when the stream is not remembered, the command is refused on it (perhaps only because it
    /// was handled before), or the stream moved on: then the loading path decides.
    private func sendRemembered<State>(
        _ command: StreamCommand<State>, context: ResolvedContext,
        append: (String, ExpectedVersion, [EventData]) async throws -> AppendResult
    ) async throws -> CommandResult? {
        guard let decided = decideRemembered(command, context: context) else { return nil }
        do {
            let result = try await append(command.stream, .exact(decided.expectedVersion), decided.events)
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
    func decideRemembered<State>(_ command: StreamCommand<State>, context: ResolvedContext, from known: StateCache<State>.Entry? = nil) -> Decided<State>? {
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
    func sendLoading<State>(_ command: StreamCommand<State>, context: ResolvedContext, session: Session) async throws -> CommandResult {
        if let earlier = try await earlierResult(of: context.commandId, fingerprint: command.fingerprint, session: session) {
            try Self.checkSameStream(earlier, command: context.commandId, stream: command.stream)
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

    /// Decides `command` inside the caller's `transaction` and appends there: the loading path
    /// without retries (a conflict loses the caller's transaction, which the caller runs again).
    func send<State>(_ command: StreamCommand<State>, context: ResolvedContext, in transaction: Transaction) async throws -> CommandResult {
        // The transaction may still roll back, or commit later than other writers: what the cache
        // remembers of the stream is no longer a good guess either way.
        command.cache.forget(command.key)
        transaction.afterCommit { command.cache.forget(command.key) }
        if let earlier = try await earlierResult(of: context.commandId, fingerprint: command.fingerprint, session: transaction) {
            try Self.checkSameStream(earlier, command: context.commandId, stream: command.stream)
            return earlier
        }
        let (state, version) = try await transaction.fold(command.stream, into: command.empty, command.evolve)
        try await command.prepare?(state)
        let (events, _) = try command.decide(state, context)
        return CommandResult(events: try await transaction.appendForCommand(to: command.stream, expected: .exact(version), events: events), replayed: false)
    }

    static func checkSameStream(_ earlier: CommandResult, command commandId: UUID, stream: String) throws {
        guard earlier.events.allSatisfy({ $0.streamName == stream }) else {
            throw ClientError(code: .invalidInput, message: "command \(commandId) was already handled for \(earlier.streamName), not \(stream)")
        }
    }

    /// What `commandId` wrote before, if it was handled: its events carry ids derived from it.
    /// Throws `command_id_reused` when they were written by a command other than the one with
    /// `fingerprint`: the id was given to two commands, and answering the second with the first's
    /// result would drop it silently.
    func earlierResult(of commandId: UUID, fingerprint: String, session: some EventLookup) async throws -> CommandResult? {
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

extension WaymarkClient {
    /// Refuses an earlier result found under `commandId` when it was written by another command:
    /// its events carry another fingerprint. Events written before fingerprints were stored carry
    /// none and count as the same command, as they always did.
    static func checkSameCommand(_ found: RecordedEvent, commandId: UUID, fingerprint: String) throws {
        guard let stored = found.metadata.extra[CommandFingerprint.metadataKey], stored != fingerprint else { return }
        throw ClientError(
            code: .commandIdReused,
            message:
                "command id \(commandId.uuidString.lowercased()) was already used for another command (it wrote \(found.type) to \(found.streamName)); a retry must send the same command with the same content, and every new command needs an id of its own"
        )
    }
}

/// Something that finds an event by id as of now: a session or a transaction.
protocol EventLookup {
    func event(withId id: UUID) async throws -> RecordedEvent?
}

extension Session: EventLookup {}
extension Transaction: EventLookup {}
