import Foundation

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

/// An event as stored.
public struct RecordedEvent: Sendable, Equatable {
    public var id: UUID
    public var streamName: String
    /// 1 for a stream's first event.
    public var streamVersion: Int64
    public var position: GlobalPosition
    public var type: String
    /// The event body as JSON text (as PostgreSQL's jsonb prints it).
    public var data: String
    public var metadata: EventMetadata
    public var recordedAt: Date

    /// The stream name's prefix before the first `-`.
    public var category: String { EventStore.category(of: streamName) }

    /// Whether `category` is the stream name's prefix before the first `-`, without building that
    /// prefix (readers filter every event they page through this way).
    public func isIn(category: String) -> Bool {
        var name = streamName.utf8.makeIterator()
        for byte in category.utf8 where name.next() != byte { return false }
        let next = name.next()
        return next == nil || next == UInt8(ascii: "-")
    }

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
