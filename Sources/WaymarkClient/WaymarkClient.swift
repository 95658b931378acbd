import Foundation
import Logging
import ServiceLifecycle
import WaymarkDefinitions
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
    /// reading their stream (0: read every time), and a quarter as many consent subjects and
    /// customers. See `StateCache`.
    public var cachedStreams: Int
    /// Who sends the client's commands unless a command names another (`CommandContext.sender`).
    public var sender: Sender
    /// How events are stored: where personal fields are sealed and opened.
    public var codec: EventCodec
    /// The clock `commandTimeout` runs on (a test clock in tests).
    public var clock: any Clock<Duration>

    public init(
        maxAttempts: Int = 10, commandTimeout: Duration? = .seconds(30), cachedStreams: Int = 100_000, sender: Sender = Sender(),
        codec: EventCodec = .standard, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.maxAttempts = maxAttempts
        self.commandTimeout = commandTimeout
        self.cachedStreams = cachedStreams
        self.sender = sender
        self.codec = codec
        self.clock = clock
    }
}

/// What services import: the command handler (load, decide, append, retry on conflict, idempotent
/// by command id; in its own transaction or a caller's) for journeys and for any other `Decider`,
/// raw appends for integration events the domain does not model, and reads of a journey's timeline.
///
/// The client is a `Service`: run it (or its store) under the application's `ServiceGroup` so that
/// appends are announced to subscribers in other processes, and so that it closes its connections
/// on shutdown.
public final class WaymarkClient: Service, Sendable {
    public let store: EventStore
    /// The definitions the client decides under: the files it was given and every version the log
    /// records (learnt when a journey under an unknown version is met).
    public let definitions: DefinitionLibrary
    /// The definitions known now.
    public var catalog: JourneyCatalog { definitions.catalog }
    public let configuration: ClientConfiguration
    /// How often a command is decided again after another writer moved its journey on.
    public var maxAttempts: Int { max(1, configuration.maxAttempts) }
    let logger: Logger
    /// Times out commands after `configuration.commandTimeout`.
    let timeouts: CommandTimeouts?
    /// The remembered states of journeys, and of the streams of other deciders by category.
    let journeys: StateCache<JourneyState>
    let caches: StateCaches

    public init(store: EventStore, catalog: JourneyCatalog, configuration: ClientConfiguration = ClientConfiguration(), logger: Logger) {
        self.store = store
        let definitions = DefinitionLibrary(catalog)
        self.definitions = definitions
        self.journeyDecider = JourneyDecider { state, command in try Self.definition(for: state, command: command, catalog: definitions.catalog) }
        self.configuration = configuration
        self.logger = logger
        self.timeouts = configuration.commandTimeout.map { CommandTimeouts(timeout: $0, clock: configuration.clock) }
        self.caches = StateCaches(capacity: configuration.cachedStreams / 4)
        self.journeys = caches.cache(JourneyDecider.category, of: JourneyState.self, capacity: configuration.cachedStreams)
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
    public static func streamName(journey journeyId: String) -> String { JourneyDecider.streamName(journeyId) }

    /// Decides `command` on journey `journeyId` and appends what it produces, with the loaded
    /// version as the expected version; decides again when another writer got there first.
    /// Throws the domain's `Rejection`, `CommandConflictError` after `maxAttempts`, or `ClientError`
    /// (also when `commandTimeout` passed).
    @discardableResult
    public func send(_ command: JourneyCommand, to journeyId: String, context: CommandContext = CommandContext()) async throws -> CommandResult {
        try Self.checkStart(command, to: journeyId)
        try await recordDefinitions(of: [command])
        return try await send(journeyCommand(command, to: journeyId), context: context.resolved(sender: configuration.sender))
    }

    /// Decides `command` on journey `journeyId` inside `transaction` and appends what it produces
    /// there, so that it commits (or not) with the caller's other writes; see
    /// `send(_:to:with:context:in:)`.
    @discardableResult
    public func send(_ command: JourneyCommand, to journeyId: String, context: CommandContext = CommandContext(), in transaction: Transaction) async throws
        -> CommandResult
    {
        try Self.checkStart(command, to: journeyId)
        try await recordDefinitions(of: [command])
        return try await send(journeyCommand(command, to: journeyId), context: context.resolved(sender: configuration.sender), in: transaction)
    }

    /// Decides `command` on stream `id` of `decider` and appends what it produces, as
    /// `send(_:to:context:)` does for journeys: any aggregate with a `Decider` goes this way.
    @discardableResult
    public func send<D: Decider>(_ command: D.Command, to id: String, with decider: D, context: CommandContext = CommandContext()) async throws
        -> CommandResult
    {
        let command = StreamCommand(command, to: id, with: decider, cache: cache(for: decider), codec: configuration.codec)
        return try await send(command, context: context.resolved(sender: configuration.sender))
    }

    /// Decides `command` on stream `id` of `decider` inside the caller's `transaction` and appends
    /// what it produces there: the events commit together with whatever else the transaction writes
    /// (a deadline marked fired, a side table, commands to other streams), or not at all.
    ///
    /// A command id already handled returns what it wrote and writes nothing. A stream that moved on
    /// under the transaction throws `WrongExpectedVersionError`; the transaction is then lost, and
    /// the caller runs it again (decisions inside are made anew on the newer state).
    @discardableResult
    public func send<D: Decider>(
        _ command: D.Command, to id: String, with decider: D, context: CommandContext = CommandContext(), in transaction: Transaction
    ) async throws -> CommandResult {
        let command = StreamCommand(command, to: id, with: decider, cache: cache(for: decider), codec: configuration.codec)
        return try await send(command, context: context.resolved(sender: configuration.sender), in: transaction)
    }

    /// The remembered states of `decider`'s streams.
    func cache<D: Decider>(for decider: D) -> StateCache<D.State> {
        caches.cache(D.category, of: D.State.self)
    }

    static func checkStart(_ command: JourneyCommand, to journeyId: String) throws {
        if case .start(let start) = command, !start.journeyId.isEmpty, start.journeyId != journeyId {
            throw ClientError(code: .invalidInput, message: "the start command names journey \(start.journeyId), sent to \(journeyId)")
        }
    }

    /// Records in the log the current definition of each journey type `commands` start (once per
    /// version and process): a journey's version is in the log before the journey is.
    func recordDefinitions(of commands: some Sequence<JourneyCommand>) async throws {
        for command in commands {
            guard case .start(let start) = command, let definition = catalog.current(start.journeyType) else { continue }
            // A start the rules refuse stores nothing, not even its definition.
            guard (try? JourneyDecider.decide(JourneyState(), command, definition: definition).get()) != nil else { continue }
            try await definitions.record(definition, in: store)
        }
    }

    /// What `command` would write to journey `journeyId` in `state`, and the state after it, without
    /// writing: a dry run, and the events a benchmark appends directly to compare with `send`.
    public func decide(_ command: JourneyCommand, to journeyId: String, on state: JourneyState, context: CommandContext) throws -> (
        events: [EventData], after: JourneyState
    ) {
        try journeyCommand(command, to: journeyId).decide(state, context.resolved(sender: configuration.sender))
    }

    /// The journeys' rules, under the definitions this client knows (and learns).
    public let journeyDecider: JourneyDecider

    /// `command` to journey `journeyId` as a command to its stream, decided under the definition
    /// the journey started under.
    func journeyCommand(_ command: JourneyCommand, to journeyId: String) -> StreamCommand<JourneyState> {
        StreamCommand(
            command, to: journeyId, with: journeyDecider, cache: journeys, codec: configuration.codec,
            prepare: { [definitions, store] state in
                guard let version = state.definitionVersion, let journeyType = state.journeyType, definitions.catalog.definition(version: version) == nil
                else { return }
                do {
                    _ = try await definitions.definition(journeyType: journeyType, version: version, in: store)
                } catch let error as DefinitionLibraryError {
                    throw ClientError(code: .unknownDefinitionVersion, message: error.message)
                }
            })
    }

    /// Runs `body`, giving up with `ClientError.timedOut` after `commandTimeout`; the body is
    /// cancelled then (a running statement gets libpq's cancel request).
    func withTimeout<T: Sendable>(commandId: UUID? = nil, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let timeouts, let timeout = configuration.commandTimeout else { return try await body() }
        // The id may have been chosen here (none given): the caller needs it to learn the result.
        let id = commandId.map { " (\($0.uuidString.lowercased()))" } ?? "s"
        return try await timeouts.run(
            timedOut: ClientError(
                code: .timedOut,
                message: "the command took longer than \(timeout); it may have been applied: send it again with the same command id\(id) to learn its result"),
            body)
    }

    /// Runs a command that may write several streams in one transaction: `body` loads, decides and
    /// appends; on a conflict the command is decided again; a command handled before returns what
    /// it wrote. The streams it touches are forgotten by `caches` (their remembered states are
    /// older now).
    func handle(
        context: ResolvedContext, fingerprint: String, forgetting forget: @escaping @Sendable () -> Void,
        _ body: @escaping @Sendable (Transaction, EventIDs) async throws -> [CommandResult.Appended]
    ) async throws -> CommandResult {
        defer { forget() }
        return try await withTimeout(commandId: context.commandId) {
            if let earlier = try await self.store.withSession({
                try await self.earlierResult(of: context.commandId, fingerprint: fingerprint, session: $0)
            }) {
                return earlier
            }
            var attempt = 0
            while true {
                attempt += 1
                do {
                    let appended = try await self.store.transaction { transaction in
                        try await body(transaction, EventIDs(context, fingerprint: fingerprint, codec: self.configuration.codec))
                    }
                    return CommandResult(events: appended, replayed: false)
                } catch let conflict as WrongExpectedVersionError {
                    guard attempt < self.maxAttempts else { throw CommandConflictError(streamName: conflict.streamName, attempts: self.maxAttempts) }
                    self.logger.debug(
                        "a stream moved on under a command, deciding again",
                        metadata: ["waymark.stream": "\(conflict.streamName)", "waymark.attempt": "\(attempt)"])
                }
            }
        }
    }

    static func definition(for state: JourneyState, command: JourneyCommand, catalog: JourneyCatalog) throws -> JourneyDefinition {
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
            throw ClientError(
                code: .unknownDefinitionVersion,
                message: "the journey runs under definition \(version), which is known nowhere: not in config/journeys and not recorded in the log")
        }
        return definition
    }

    /// The journey's state and its stream's version (events the domain does not know count toward
    /// the version but leave the state alone).
    private func load(_ journeyId: String, session: Session) async throws -> (JourneyState, Int64) {
        let command = journeyCommand(.resume, to: journeyId)
        return try await session.fold(command.stream, into: command.empty, command.evolve)
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
        try await store.withSession { try await self.load(journeyId, session: $0).0 }
    }

    /// Appends integration events the domain does not model (a shipment delayed in the ERP, a case
    /// closed in the support desk) to journey `journeyId`'s stream, where its timeline and the
    /// rules on integration events find them; see `append(toStream:expected:events:)`.
    @discardableResult
    public func append(_ events: [EventData], toJourney journeyId: String, expected: ExpectedVersion = .any) async throws -> AppendResult {
        try await append(toStream: Self.streamName(journey: journeyId), expected: expected, events: events)
    }

    /// Appends integration events the domain does not model to any stream (named in full:
    /// `orders-42`, `journey-42`), as `EventStore.append` does. Events of the domain's own types on
    /// its streams (a `JourneyStarted` on `journey-42`) are refused with `domain_event_type`: only
    /// a command writes them, decided by the domain's rules, so every reader can read them.
    @discardableResult
    public func append(toStream stream: String, expected: ExpectedVersion = .any, events: [EventData]) async throws -> AppendResult {
        try Self.checkIntegrationEvents(events, on: stream)
        return try await store.append(to: stream, expected: expected, events: events)
    }

    /// The domain's event types by the category of the streams they belong to.
    static let domainEventTypes: [String: (types: Set<String>, command: String)] = [
        JourneyDecider.category: (JourneyEvent.storedTypes, "client.send(_:to:)"),
        CustomerDecider.category: (CustomerEvent.storedTypes, "CustomerDirectory"),
        ConsentDecider.category: (ConsentEvent.storedTypes, "ConsentRegistry"),
        DefinitionLibrary.category: ([DefinitionLibrary.eventType], "the client, which records each definition version it uses"),
    ]

    static func checkIntegrationEvents(_ events: [EventData], on stream: String) throws {
        guard let domain = domainEventTypes[EventStore.category(of: stream)] else { return }
        for event in events where domain.types.contains(event.type) {
            throw ClientError(
                code: .domainEventType,
                message:
                    "\(event.type) on \(stream) is an event of the domain, written only by its commands (\(domain.command)); a raw append carries integration events, of types the domain does not know"
            )
        }
    }
}
