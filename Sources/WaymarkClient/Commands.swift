import Foundation
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore

/// Who sends commands: the person or service acting, and the system the command comes from. A
/// client has one (`ClientConfiguration.sender`); a command may name another.
public struct Sender: Sendable, Equatable {
    public var actor: String?
    public var sourceSystem: String?

    public init(actor: String? = nil, sourceSystem: String? = nil) {
        self.actor = actor
        self.sourceSystem = sourceSystem
    }
}

/// What one command carries beside its content: its id, who sent it, and when its fact happened.
///
/// Every command has an id; the events it produces get ids derived from it, so sending it again
/// returns the original result and writes nothing. Left out, the id is fresh for each send, so one
/// context can be reused for many commands; give one (a message id from the sending system, a
/// stored request id) to make a retry after a lost reply safe.
public struct CommandContext: Sendable {
    /// The command's id; nil gives each send a fresh one.
    public var commandId: UUID?
    /// Who sends it; nil is the client's sender.
    public var sender: Sender?
    /// When the fact happened, when the sender knows better than the clock at recording (a late
    /// report from an integrated system, an import, a simulation); see `EventMetadata.occurredAt`.
    public var occurredAt: Date?
    /// The W3C `traceparent` of the request that carried the command, kept in the events'
    /// metadata (`extra["traceparent"]`) beside the correlation and causation ids.
    public var traceparent: String?
    /// Further values kept in the events' metadata (`extra`), such as the API key that sent the
    /// command. The client's own keys (the command's fingerprint, `traceparent`) win over these.
    public var extra: [String: String]

    public init(
        id commandId: UUID? = nil, by sender: Sender? = nil, occurredAt: Date? = nil, traceparent: String? = nil, extra: [String: String] = [:]
    ) {
        self.commandId = commandId
        self.sender = sender
        self.occurredAt = occurredAt
        self.traceparent = traceparent
        self.extra = extra
    }

    public init(
        commandId: UUID?, actor: String? = nil, sourceSystem: String? = nil, occurredAt: Date? = nil, traceparent: String? = nil,
        extra: [String: String] = [:]
    ) {
        self.init(
            id: commandId, by: actor == nil && sourceSystem == nil ? nil : Sender(actor: actor, sourceSystem: sourceSystem), occurredAt: occurredAt,
            traceparent: traceparent, extra: extra)
    }

    /// The key of the events' metadata holding the `traceparent`.
    public static let traceparentKey = "traceparent"

    /// The context with an id and a sender: the given ones, else a fresh id and `sender`.
    func resolved(sender defaultSender: Sender) -> ResolvedContext {
        ResolvedContext(
            commandId: commandId ?? UUID(), sender: sender ?? defaultSender, occurredAt: occurredAt, traceparent: traceparent, extra: extra)
    }
}

/// A command's context as sent: its id fixed.
struct ResolvedContext: Sendable {
    var commandId: UUID
    var sender: Sender
    var occurredAt: Date?
    var traceparent: String?
    var extra: [String: String] = [:]
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

    public init(events: [Appended], replayed: Bool) {
        self.events = events
        self.replayed = replayed
    }

    /// What one append of `events` wrote.
    init(_ result: AppendResult, events: [EventData]) {
        self.events = zip(result.events, events).map {
            Appended(streamName: result.streamName, id: $0.id, type: $1.type, streamVersion: $0.streamVersion, position: $0.position)
        }
        self.replayed = result.replayed
    }

    /// The stream of the command's last event.
    public var streamName: String { events.last?.streamName ?? "" }
    /// The stored types of `events`, in order.
    public var types: [String] { events.map(\.type) }
    /// The version of the command's last stream after the command.
    public var streamVersion: Int64 { events.last?.streamVersion ?? 0 }
}

/// The events of one command: each gets the next id derived from the command id, and the
/// command's metadata (correlation, causation = the command id, actor, source system, and the
/// command's fingerprint, which tells a retry from another command sent under the same id).
final class EventIDs {
    private let context: ResolvedContext
    private let fingerprint: String
    let codec: EventCodec
    private var index = 0
    /// The metadata of the last event: a command's events share it.
    private var metadata: EventMetadata?

    init(_ context: ResolvedContext, fingerprint: String, codec: EventCodec) {
        self.context = context
        self.fingerprint = fingerprint
        self.codec = codec
    }

    /// The ids derived so far, by index: each is a SHA-256, and a decider's `evolve` asks for them
    /// before the events are stored.
    private var derived: [UUID] = []

    private func id(at index: Int) -> UUID {
        while derived.count <= index { derived.append(CommandIDs.eventID(command: context.commandId, index: derived.count)) }
        return derived[index]
    }

    /// The ids the next `count` events will get.
    func upcoming(_ count: Int) -> [UUID] {
        (index..<index + count).map(id(at:))
    }

    func next(type: String, data: String, correlation: String) -> EventData {
        defer { index += 1 }
        let metadata: EventMetadata
        if let last = self.metadata, last.correlationId == correlation {
            metadata = last
        } else {
            var extra = context.extra
            extra[CommandFingerprint.metadataKey] = fingerprint
            if let traceparent = context.traceparent { extra[CommandContext.traceparentKey] = traceparent }
            metadata = EventMetadata(
                correlationId: correlation, causationId: context.commandId.uuidString.lowercased(), actor: context.sender.actor,
                sourceSystem: context.sender.sourceSystem, occurredAt: context.occurredAt, extra: extra)
            self.metadata = metadata
        }
        return EventData(id: id(at: index), type: type, data: data, metadata: metadata)
    }

    /// The stored form of a command's domain events, in order, personal fields sealed for `subject`.
    func next(_ events: [some DomainEvent], correlation: String, subject: String?) throws -> [EventData] {
        try events.map { next(type: $0.type, data: try $0.encode(with: codec, subject: subject), correlation: correlation) }
    }

    func next<Payload: Encodable>(type: String, payload: Payload, correlation: String) throws -> EventData {
        next(type: type, data: try codec.encode(payload, subject: nil), correlation: correlation)
    }
}

extension Transaction {
    /// Appends and describes what landed, for a `CommandResult`.
    func appendForCommand(to stream: String, expected: ExpectedVersion, events: [EventData]) async throws -> [CommandResult.Appended] {
        CommandResult(try await append(to: stream, expected: expected, events: events), events: events).events
    }
}

/// A command that lost to other writers of the same journey more often than the client retries.
public struct CommandConflictError: WaymarkError, Equatable {
    /// Always `.concurrencyConflict`: the client's codes are one list.
    public let code = ClientError.Code.concurrencyConflict
    public var streamName: String
    public var attempts: Int
    public var message: String {
        "stream \(streamName) changed under the command \(attempts) times in a row; send it again later"
    }
}

/// A command the client cannot decide: its journey type or the definition version its journey
/// started under is not loaded.
public struct ClientError: WaymarkError, Equatable {
    /// The client's codes (`CommandConflictError` carries one of them too).
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case unknownJourneyType = "unknown_journey_type"
            case unknownDefinitionVersion = "unknown_definition_version"
            case invalidInput = "invalid_input"
            case timedOut = "timed_out"
            case domainEventType = "domain_event_type"
            case commandIdReused = "command_id_reused"
            case concurrencyConflict = "concurrency_conflict"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No definition of the command's journey type is loaded.
        public static let unknownJourneyType = Code(.unknownJourneyType)
        /// The definition version the journey started under is not known here.
        public static let unknownDefinitionVersion = Code(.unknownDefinitionVersion)
        /// A request that is malformed (a start sent to another journey id, a bad batch).
        public static let invalidInput = Code(.invalidInput)
        /// A command that did not finish in its time.
        public static let timedOut = Code(.timedOut)
        /// A raw append of an event only the domain's commands write (see `WaymarkClient.append`).
        public static let domainEventType = Code(.domainEventType)
        /// A command id already used for a different command: never answered from the log.
        public static let commandIdReused = Code(.commandIdReused)
        /// Other writers changed the stream under the command more often than the client retries
        /// (`CommandConflictError`).
        public static let concurrencyConflict = Code(.concurrencyConflict)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }

        public var kind: ErrorKind {
            switch base {
            case .unknownJourneyType, .unknownDefinitionVersion: return .notFound
            case .invalidInput, .domainEventType: return .invalidInput
            case .timedOut: return .unavailable
            case .commandIdReused, .concurrencyConflict: return .conflict
            }
        }
    }
    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
}
