import Foundation
import Logging
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Where a command came from and who sent it. Every command carries an id: the events it produces
/// get ids derived from it, so sending it again returns the original result and writes nothing.
public struct CommandContext: Sendable {
    public var commandId: UUID
    public var actor: String?
    public var sourceSystem: String?

    public init(commandId: UUID = UUID(), actor: String? = nil, sourceSystem: String? = nil) {
        self.commandId = commandId
        self.actor = actor
        self.sourceSystem = sourceSystem
    }
}

/// What a command wrote.
public struct CommandResult: Sendable, Equatable {
    /// One event the command wrote, and where.
    public struct Appended: Sendable, Equatable {
        public var streamName: String
        public var id: UUID
        public var type: String
        public var streamVersion: Int64
        public var position: GlobalPosition
    }

    public var events: [Appended]
    /// True when the command had been handled before and this call only returned what it wrote.
    public var replayed: Bool

    /// The stream of the command's last event.
    public var streamName: String { events.last?.streamName ?? "" }
    /// The stored types of `events`, in order.
    public var types: [String] { events.map(\.type) }
    /// The version of the command's last stream after the command.
    public var streamVersion: Int64 { events.last?.streamVersion ?? 0 }
}

/// The events of one command: each gets the next id derived from the command id, and the
/// command's metadata (correlation, causation = the command id, actor, source system).
final class EventIDs {
    private let context: CommandContext
    private var index = 0

    init(_ context: CommandContext) { self.context = context }

    func next(type: String, data: String, correlation: String) -> EventData {
        defer { index += 1 }
        let metadata = EventMetadata(
            correlationId: correlation, causationId: context.commandId.uuidString.lowercased(), actor: context.actor, sourceSystem: context.sourceSystem)
        return EventData(id: CommandIDs.eventID(command: context.commandId, index: index), type: type, data: data, metadata: metadata)
    }

    func next<Payload: Encodable>(type: String, payload: Payload, correlation: String) throws -> EventData {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return next(type: type, data: String(decoding: try encoder.encode(payload), as: UTF8.self), correlation: correlation)
    }
}

extension Transaction {
    /// Appends and describes what landed, for a `CommandResult`.
    func appendForCommand(to stream: String, expected: ExpectedVersion, events: [EventData]) async throws -> [CommandResult.Appended] {
        let result = try await append(to: stream, expected: expected, events: events)
        return zip(result.events, events).map {
            CommandResult.Appended(streamName: stream, id: $0.id, type: $1.type, streamVersion: $0.streamVersion, position: $0.position)
        }
    }
}

/// A command that lost to other writers of the same journey more often than the client retries.
public struct CommandConflictError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code = "concurrency_conflict"
    public var streamName: String
    public var attempts: Int
    public var description: String {
        "\(code): journey stream \(streamName) changed under the command \(attempts) times in a row; send it again later"
    }
}

/// A command the client cannot decide: its journey type or the definition version its journey
/// started under is not loaded.
public struct ClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unknownJourneyType = "unknown_journey_type"
        case unknownDefinitionVersion = "unknown_definition_version"
        case invalidInput = "invalid_input"
    }
    public var code: Code
    public var message: String
    public var description: String { "\(code.rawValue): \(message)" }
}

/// What services import: commands to journeys (load, decide, append, retry on conflict,
/// idempotent by command id), raw appends for integration events the domain does not model, and
/// reads of a journey's timeline.
public final class WaymarkClient: Sendable {
    public let store: EventStore
    public let catalog: JourneyCatalog
    /// How often a command is decided again after another writer moved its journey on.
    public let maxAttempts: Int
    let logger: Logger

    public init(store: EventStore, catalog: JourneyCatalog, maxAttempts: Int = 10, logger: Logger) {
        self.store = store
        self.catalog = catalog
        self.maxAttempts = max(1, maxAttempts)
        self.logger = logger
    }

    /// The stream of journey `journeyId`.
    public static func streamName(journey journeyId: String) -> String { "journey-\(journeyId)" }

    /// Decides `command` on journey `journeyId` and appends what it produces, with the loaded
    /// version as the expected version; decides again when another writer got there first.
    /// Throws the domain's `Rejection`, `CommandConflictError` after `maxAttempts`, or `ClientError`.
    @discardableResult
    public func send(_ command: JourneyCommand, to journeyId: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        if case .start(let start) = command, start.journeyId != journeyId {
            throw ClientError(code: .invalidInput, message: "the start command names journey \(start.journeyId), sent to \(journeyId)")
        }
        let stream = Self.streamName(journey: journeyId)
        // One session: the journey is loaded, decided and appended on one connection's thread.
        return try await store.withSession { session in
            if let earlier = try await self.earlierResult(of: context.commandId, session: session) {
                guard earlier.events.allSatisfy({ $0.streamName == stream }) else {
                    throw ClientError(code: .invalidInput, message: "command \(context.commandId) was already handled for \(earlier.streamName), not \(stream)")
                }
                return earlier
            }
            for attempt in 1...maxAttempts {
                let (state, version) = try await self.load(stream, session: session)
                let definition = try self.definition(for: state, command: command)
                let events = try JourneyDecider.decide(state, command, definition: definition).get()
                let ids = EventIDs(context)
                let data = try events.map { ids.next(type: $0.type, data: try $0.data(), correlation: journeyId) }
                do {
                    let result = try await session.append(to: stream, expected: .exact(version), events: data)
                    let appended = zip(result.events, data).map {
                        CommandResult.Appended(streamName: stream, id: $0.id, type: $1.type, streamVersion: $0.streamVersion, position: $0.position)
                    }
                    return CommandResult(events: appended, replayed: result.replayed)
                } catch is WrongExpectedVersionError {
                    logger.debug(
                        "journey moved on under a command, deciding again", metadata: ["waymark.stream": "\(stream)", "waymark.attempt": "\(attempt)"])
                }
            }
            throw CommandConflictError(streamName: stream, attempts: maxAttempts)
        }
    }

    /// Runs a command that may write several streams in one transaction: `body` loads, decides and
    /// appends; on a conflict the command is decided again; a command handled before returns what
    /// it wrote.
    func handle(context: CommandContext, _ body: (Transaction, EventIDs) async throws -> [CommandResult.Appended]) async throws -> CommandResult {
        if let earlier = try await store.withSession({ try await self.earlierResult(of: context.commandId, session: $0) }) { return earlier }
        var attempt = 0
        while true {
            attempt += 1
            do {
                let appended = try await store.transaction { transaction in try await body(transaction, EventIDs(context)) }
                return CommandResult(events: appended, replayed: false)
            } catch let conflict as WrongExpectedVersionError {
                guard attempt < maxAttempts else { throw CommandConflictError(streamName: conflict.streamName, attempts: maxAttempts) }
                logger.debug(
                    "a stream moved on under a command, deciding again",
                    metadata: ["waymark.stream": "\(conflict.streamName)", "waymark.attempt": "\(attempt)"])
            }
        }
    }

    /// What `commandId` wrote before, if it was handled: its events carry ids derived from it.
    private func earlierResult(of commandId: UUID, session: Session) async throws -> CommandResult? {
        var found: [RecordedEvent] = []
        while let event = try await session.event(withId: CommandIDs.eventID(command: commandId, index: found.count)) {
            found.append(event)
        }
        guard !found.isEmpty else { return nil }
        return CommandResult(
            events: found.map {
                CommandResult.Appended(streamName: $0.streamName, id: $0.id, type: $0.type, streamVersion: $0.streamVersion, position: $0.position)
            },
            replayed: true)
    }

    private func definition(for state: JourneyState, command: JourneyCommand) throws -> JourneyDefinition {
        if case .start(let start) = command, state.status == .notStarted {
            guard let definition = catalog.current(start.journeyType) else {
                throw ClientError(code: .unknownJourneyType, message: "no definition of journey type '\(start.journeyType)' is loaded")
            }
            return definition
        }
        guard let version = state.definitionVersion else {
            throw Rejection(.journeyNotStarted, "the journey has not started")
        }
        guard let definition = catalog.definition(version: version) else {
            throw ClientError(code: .unknownDefinitionVersion, message: "the journey runs under definition \(version), which this client has not loaded")
        }
        return definition
    }

    /// The journey's state and its stream's version (events the domain does not know count toward
    /// the version but leave the state alone).
    private func load(_ stream: String, session: Session) async throws -> (JourneyState, Int64) {
        try await session.fold(stream, into: JourneyState()) { state, recorded in
            try JourneyEvent.decode(type: recorded.type, data: recorded.data).map { JourneyState.evolve(state, $0) } ?? state
        }
    }

    /// Every event of journey `journeyId`, oldest first, integration events included.
    public func timeline(journey journeyId: String) async throws -> [RecordedEvent] {
        try await store.withSession { session in
            var events: [RecordedEvent] = []
            _ = try await session.fold(Self.streamName(journey: journeyId), into: ()) { _, recorded in events.append(recorded) }
            return events
        }
    }

    /// The journey's state as its events build it.
    public func state(journey journeyId: String) async throws -> JourneyState {
        try await store.withSession { try await self.load(Self.streamName(journey: journeyId), session: $0).0 }
    }

    /// Appends integration events the domain does not model, as `EventStore.append` does.
    @discardableResult
    public func append(to stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        try await store.append(to: stream, expected: expected, events: events)
    }
}
