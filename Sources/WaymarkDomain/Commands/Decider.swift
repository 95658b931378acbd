import Foundation

/// The rules of one kind of stream (a journey, a customer record, a consent subject, or an
/// aggregate of another module): the state its events build, the events a command produces on it,
/// and how each event changes the state. A command handler loads the stream, folds it with
/// `evolve`, asks `decide`, and appends the events with the loaded version as the expected version;
/// the decider itself does no I/O.
public protocol Decider: Sendable {
    associatedtype State: Sendable
    associatedtype Command: Sendable
    associatedtype Event: DomainEvent

    /// The category of its streams: stream `<category>-<id>` (see `streamName(_:)`).
    static var category: String { get }

    /// The state of a stream with no events.
    var initialState: State { get }

    /// The events `command` produces on stream `id` in `state`; throws a `Rejection` (or another
    /// error naming the problem) when the rules refuse it.
    func decide(_ command: Command, on id: String, state: State) throws -> [Event]

    /// The state after `event` (stored with `eventId`).
    func evolve(_ state: State, _ event: Event, eventId: UUID) -> State

    /// What the command asks, as a digest (`CommandFingerprint`): stored with its events, so that a
    /// command id found in the log is a retry only when the same command is sent again under it.
    func fingerprint(of command: Command, on id: String) -> String

    /// Whether `command` creates its stream (a start, a registration): a handler may decide it on
    /// no stream at all, with "the stream is still empty" as the append's check.
    func createsStream(_ command: Command) -> Bool

    /// The correlation id of the events a command writes to stream `id`.
    func correlation(of id: String) -> String

    /// The subject whose personal data the events of stream `id` carry (sealed with that subject's
    /// key), given the state after them; nil when the stream's events carry none.
    func subject(of id: String, after state: State) -> String?
}

extension Decider {
    /// The stream of `id`.
    public static func streamName(_ id: String) -> String { "\(category)-\(id)" }

    public func createsStream(_ command: Command) -> Bool { false }
    public func correlation(of id: String) -> String { id }
    public func subject(of id: String, after state: State) -> String? { nil }
}

extension Decider where Command: Encodable {
    /// The digest of the command's JSON with sorted keys, its stream and its decider's category.
    public func fingerprint(of command: Command, on id: String) -> String {
        var key = CommandFingerprint(Self.category)
        key.add(id)
        key.add((try? EventCodec.encoder().encode(command)).map { String(decoding: $0, as: UTF8.self) } ?? String(reflecting: command))
        return key.finish()
    }
}
