import Foundation
import Synchronization

/// An event to append.
public struct EventData: Sendable, Equatable {
    /// The event's unique id; resending the same id makes an append idempotent. New events get a
    /// time-ordered (version 7) UUID unless the caller brings its own id.
    public var id: UUID
    public var type: String
    /// The event body as JSON text.
    public var data: String
    public var metadata: EventMetadata

    public init(id: UUID = .timeOrdered(), type: String, data: String, metadata: EventMetadata = EventMetadata()) {
        self.id = id
        self.type = type
        self.data = data
        self.metadata = metadata
    }

    /// Encodes `payload` with `JSONEncoder` (dates as ISO 8601).
    public init<Payload: Encodable>(id: UUID = .timeOrdered(), type: String, payload: Payload, metadata: EventMetadata = EventMetadata()) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        self.init(id: id, type: type, data: String(decoding: try encoder.encode(payload), as: UTF8.self), metadata: metadata)
    }
}

/// An event as stored. Immutable, and boxed: readers pass events through pages, batches and
/// tables, and copying the fields one by one (a retain per string) was 5 % of a build's CPU.
public struct RecordedEvent: Sendable, Equatable {
    private final class Storage: Sendable {
        let id: UUID
        let streamName: String
        let streamVersion: Int64
        let position: GlobalPosition
        let type: String
        let data: String
        let metadata: EventMetadata
        let recordedAt: Date
        /// Kept beside the name: readers filter every event they page through by it.
        let category: String
        /// Kept apart from the metadata: every projection reads it for every event.
        let occurredAt: Date
        let metadataProblem: String?
        /// What a reader made of the event (its decoded payload), shared by every reader of this
        /// copy: the builds that read one shared page decode each event once. (Only `Sendable`
        /// values go in: `derived(_:)` takes nothing else.)
        nonisolated(unsafe) let derived = AtomicLazyReference<AnyObject>()

        init(
            id: UUID, streamName: String, streamVersion: Int64, position: GlobalPosition, type: String, data: String, metadata: EventMetadata,
            recordedAt: Date, metadataProblem: String?
        ) {
            self.id = id
            self.streamName = streamName
            self.streamVersion = streamVersion
            self.position = position
            self.type = type
            self.data = data
            self.metadata = metadata
            self.recordedAt = recordedAt
            category = EventStore.category(of: streamName)
            occurredAt = metadata.occurredAt ?? recordedAt
            self.metadataProblem = metadataProblem
        }
    }

    private let storage: Storage

    public init(
        id: UUID, streamName: String, streamVersion: Int64, position: GlobalPosition, type: String, data: String, metadata: EventMetadata,
        recordedAt: Date, metadataProblem: String? = nil
    ) {
        storage = Storage(
            id: id, streamName: streamName, streamVersion: streamVersion, position: position, type: type, data: data, metadata: metadata,
            recordedAt: recordedAt, metadataProblem: metadataProblem)
    }

    public var id: UUID { storage.id }
    public var streamName: String { storage.streamName }
    /// 1 for a stream's first event.
    public var streamVersion: Int64 { storage.streamVersion }
    public var position: GlobalPosition { storage.position }
    public var type: String { storage.type }
    /// The event body as JSON text (as PostgreSQL's jsonb prints it).
    public var data: String { storage.data }
    public var metadata: EventMetadata { storage.metadata }
    public var recordedAt: Date { storage.recordedAt }
    /// When it happened in the world: `metadata.occurredAt` when given, else when recorded.
    public var occurredAt: Date { storage.occurredAt }
    /// Why part of the stored metadata could not be read (an `occurred_at` that is no ISO 8601 time
    /// with an offset, written by a SQL client before the store checked it); nil for every event
    /// the store wrote. The event is still delivered, so that a reader that needs the field can
    /// stop on this event alone, naming it, instead of failing a whole page of the log.
    public var metadataProblem: String? { storage.metadataProblem }

    /// What `make` derives from this event (a decoded payload), made once per copy of the event
    /// and shared: readers handed the same copy (from one shared page) get the first result. Meant
    /// for one kind of derived value per event; a value of another type, or nil, is not kept.
    public func derived<Value: AnyObject & Sendable>(_ make: (RecordedEvent) throws -> Value?) rethrows -> Value? {
        if let value = storage.derived.load() as? Value { return value }
        guard let value = try make(self) else { return nil }
        return storage.derived.storeIfNil(value) as? Value ?? value
    }

    public static func == (lhs: RecordedEvent, rhs: RecordedEvent) -> Bool {
        lhs.storage === rhs.storage
            || (lhs.id == rhs.id && lhs.streamName == rhs.streamName && lhs.streamVersion == rhs.streamVersion && lhs.position == rhs.position
                && lhs.type == rhs.type && lhs.data == rhs.data && lhs.metadata == rhs.metadata && lhs.recordedAt == rhs.recordedAt)
    }

    /// The stream name's prefix before the first `-`.
    public var category: String { storage.category }

    public func isIn(category: String) -> Bool { storage.category == category }

    /// Decodes `data` with `JSONDecoder` (dates as ISO 8601).
    public func decode<Payload: Decodable>(_ type: Payload.Type = Payload.self) throws -> Payload {
        try Self.decoder.decode(type, from: Data(data.utf8))
    }

    /// One decoder for every event (JSONDecoder is thread-safe).
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// Where one appended event landed.
public struct AppendedEvent: Sendable, Equatable {
    public var id: UUID
    public var streamVersion: Int64
    public var position: GlobalPosition

    public init(id: UUID, streamVersion: Int64, position: GlobalPosition) {
        self.id = id
        self.streamVersion = streamVersion
        self.position = position
    }
}

/// The outcome of an append.
public struct AppendResult: Sendable, Equatable {
    public var streamName: String
    public var events: [AppendedEvent]
    /// True when the batch had been appended before and this call only returned its positions.
    public var replayed: Bool
    /// The stream's version after the batch: expect this on the next append.
    public var streamVersion: Int64 { events.last?.streamVersion ?? 0 }
}
