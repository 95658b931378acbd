import Foundation
import Logging
import ServiceLifecycle
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// How a client decides and retries.
public struct ClientConfiguration: Sendable {
    /// How often a command is decided again after another writer moved its journey on.
    public var maxAttempts: Int
    /// How long one `send` may take, waits for a connection included; nil waits as long as it takes.
    /// A command that timed out may still have been applied: send it again with the same command id
    /// to learn its result.
    public var commandTimeout: Duration?
    /// How many journeys' states the client remembers to decide the next command on them without
    /// reading their stream (0: read every time). See `JourneyStateCache`.
    public var cachedJourneys: Int

    public init(maxAttempts: Int = 10, commandTimeout: Duration? = .seconds(30), cachedJourneys: Int = 100_000) {
        self.maxAttempts = maxAttempts
        self.commandTimeout = commandTimeout
        self.cachedJourneys = cachedJourneys
    }
}

/// What services import: commands to journeys (load, decide, append, retry on conflict,
/// idempotent by command id), raw appends for integration events the domain does not model, and
/// reads of a journey's timeline.
///
/// The client is a `Service`: run it (or its store) under the application's `ServiceGroup` so that
/// appends are announced to subscribers in other processes, and so that it closes its connections
/// on shutdown.
public final class WaymarkClient: Service, Sendable {
    public let store: EventStore
    public let catalog: JourneyCatalog
    public let configuration: ClientConfiguration
    /// How often a command is decided again after another writer moved its journey on.
    public var maxAttempts: Int { max(1, configuration.maxAttempts) }
    let logger: Logger
    let cache: JourneyStateCache

    public init(store: EventStore, catalog: JourneyCatalog, configuration: ClientConfiguration = ClientConfiguration(), logger: Logger) {
        self.store = store
        self.catalog = catalog
        self.configuration = configuration
        self.logger = logger
        self.cache = JourneyStateCache(capacity: configuration.cachedJourneys)
    }

    /// A client with a store of its own on `url`, deciding under the journey definitions in
    /// `definitions` (a `config/journeys` folder beside a `calendars.yaml`, see `DefinitionLoader`).
    public static func connect(
        url: String, schema: String = "waymark", definitions: URL, maxConnections: Int = 10, configuration: ClientConfiguration = ClientConfiguration(),
        logger: Logger
    ) throws -> WaymarkClient {
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: definitions))
        let store = try EventStore.connect(url: url, schema: schema, maxConnections: maxConnections, logger: logger)
        return WaymarkClient(store: store, catalog: catalog, configuration: configuration, logger: logger)
    }

    /// Runs the store's service (announcements to other processes) until graceful shutdown, then
    /// closes its connections.
    public func run() async throws {
        try await store.run()
    }

    /// The stream of journey `journeyId`.
    public static func streamName(journey journeyId: String) -> String { "journey-\(journeyId)" }

    /// Decides `command` on journey `journeyId` and appends what it produces, with the loaded
    /// version as the expected version; decides again when another writer got there first.
    /// Throws the domain's `Rejection`, `CommandConflictError` after `maxAttempts`, or `ClientError`
    /// (also when `commandTimeout` passed).
    @discardableResult
    public func send(_ command: JourneyCommand, to journeyId: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        if case .start(let start) = command, start.journeyId != journeyId {
            throw ClientError(code: .invalidInput, message: "the start command names journey \(start.journeyId), sent to \(journeyId)")
        }
        return try await withTimeout {
            // One session: the journey is loaded, decided and appended on one connection's thread.
            try await self.store.withSession { session in
                if let result = try await self.sendRemembered(command, to: journeyId, context: context, session: session) { return result }
                return try await self.sendLoading(command, to: journeyId, context: context, session: session)
            }
        }
    }

    /// The one-round-trip path: the command decided on the remembered state of the journey (or, for
    /// a start, on no journey) and appended with the remembered version. Nil when the journey is
    /// not remembered, the command is refused (perhaps only because it was handled before), or the
    /// journey moved on: then the loading path decides.
    private func sendRemembered(_ command: JourneyCommand, to journeyId: String, context: CommandContext, session: Session) async throws -> CommandResult? {
        guard let decided = decideRemembered(command, on: journeyId, context: context) else { return nil }
        let stream = Self.streamName(journey: journeyId)
        do {
            let result = try await session.append(to: stream, expected: .exact(decided.expectedVersion), events: decided.events)
            if result.replayed {
                cache.forget(journeyId)
            } else {
                cache.remember(journeyId, .init(state: decided.state, streamVersion: result.streamVersion))
            }
            return CommandResult(result, events: decided.events)
        } catch is WrongExpectedVersionError {
            cache.forget(journeyId)
            return nil
        } catch let error as EventStoreError where error.code == .idempotencyConflict {
            // The command was handled before and decides differently on the state after it.
            cache.forget(journeyId)
            return nil
        }
    }

    /// A command decided on the remembered journey: its events, the state after them and the
    /// version the stream must still have.
    struct Decided {
        var events: [EventData]
        var state: JourneyState
        var expectedVersion: Int64
    }

    func decideRemembered(_ command: JourneyCommand, on journeyId: String, context: CommandContext, from known: JourneyStateCache.Entry? = nil) -> Decided? {
        let remembered: JourneyStateCache.Entry
        if let known {
            remembered = known
        } else if let entry = cache.entry(for: journeyId) {
            remembered = entry
        } else if case .start = command, configuration.cachedJourneys > 0 {
            // A start is usually for a new journey: try it as one; the append's expectation checks.
            remembered = .init(state: JourneyState(), streamVersion: 0)
        } else {
            return nil
        }
        guard let definition = try? definition(for: remembered.state, command: command),
            let events = try? JourneyDecider.decide(remembered.state, command, definition: definition).get(),
            let data = try? eventData(events, journeyId: journeyId, context: context)
        else { return nil }
        return Decided(events: data, state: events.reduce(remembered.state, JourneyState.evolve), expectedVersion: remembered.streamVersion)
    }

    /// The loading path: what the command wrote before, if it was handled; else the journey loaded,
    /// decided and appended with the loaded version, decided again on a conflict.
    func sendLoading(_ command: JourneyCommand, to journeyId: String, context: CommandContext, session: Session) async throws -> CommandResult {
        let stream = Self.streamName(journey: journeyId)
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
            let data = try eventData(events, journeyId: journeyId, context: context)
            do {
                let result = try await session.append(to: stream, expected: .exact(version), events: data)
                if !result.replayed { cache.remember(journeyId, .init(state: events.reduce(state, JourneyState.evolve), streamVersion: result.streamVersion)) }
                return CommandResult(result, events: data)
            } catch is WrongExpectedVersionError {
                logger.debug(
                    "journey moved on under a command, deciding again", metadata: ["waymark.stream": "\(stream)", "waymark.attempt": "\(attempt)"])
            }
        }
        cache.forget(journeyId)
        throw CommandConflictError(streamName: stream, attempts: maxAttempts)
    }

    /// The stored form of a command's events: ids derived from the command id, the command's metadata.
    func eventData(_ events: [JourneyEvent], journeyId: String, context: CommandContext) throws -> [EventData] {
        let ids = EventIDs(context)
        return try events.map { ids.next(type: $0.type, data: try $0.data(), correlation: journeyId) }
    }

    /// Runs `body`, giving up with `ClientError.timedOut` after `commandTimeout`; the body is
    /// cancelled then (a running statement gets libpq's cancel request).
    func withTimeout<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let timeout = configuration.commandTimeout else { return try await body() }
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw ClientError(
                    code: .timedOut,
                    message: "the command took longer than \(timeout); it may have been applied: send it again with the same command id to learn its result")
            }
            defer { group.cancelAll() }
            return try await group.next()!
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
