import Foundation
import HTTPTypes
import Hummingbird
import WaymarkClient
import WaymarkEventStore
import WaymarkPostgres

extension ApiServer {
    /// The header an append's expected version is given in: `any` (the default), `no-stream`,
    /// `exists`, or the stream's version as a number.
    static let expectedVersionHeader = HTTPField.Name("Waymark-Expected-Version")!
    /// The key of the events' metadata (`extra`) naming the API key that wrote them: what a
    /// service key may read back. Set by the server only.
    public static let writerKey = "waymark.key"

    /// An event as the API shows it: its data as the JSON it is.
    struct EventReply: Codable {
        struct Metadata: Codable {
            var correlationId: String?
            var causationId: String?
            var actor: String?
            var sourceSystem: String?
            var occurredAt: String?
            var extra: [String: String]?
        }
        var id: UUID
        var stream: String
        var streamVersion: Int64
        var position: String
        var type: String
        var data: JSONValue
        var metadata: Metadata
        var recordedAt: String

        init(_ event: RecordedEvent) {
            id = event.id
            stream = event.streamName
            streamVersion = event.streamVersion
            position = event.position.description
            type = event.type
            data = (try? JSONParser.parse(event.data)) ?? .null
            let meta = event.metadata
            metadata = Metadata(
                correlationId: meta.correlationId, causationId: meta.causationId, actor: meta.actor, sourceSystem: meta.sourceSystem,
                occurredAt: meta.occurredAt.map(TimestampText.iso8601), extra: meta.extra.isEmpty ? nil : meta.extra)
            recordedAt = TimestampText.iso8601(event.recordedAt)
        }
    }

    /// A page of a stream: `next` is the version to read from for the following page.
    struct StreamPage: Codable {
        var stream: String
        var events: [EventReply]
        var next: Int64?
    }

    /// A page of the log or a category: `next` is the position to read after for the following
    /// page; `isEnd` says the page reached what is committed now.
    struct LogPage: Codable {
        var events: [EventReply]
        var next: String
        var isEnd: Bool
    }

    func addStreamRoutes(to router: Router<ApiContext>) {
        router.post("v1/streams/:stream/events") { request, context in
            let principal = try context.require(.service)
            let stream = try Self.pathParameter(context, "stream")
            let expected = try Self.expectedVersion(request.headers[Self.expectedVersionHeader])
            let append = try AppendRequest(try await context.json(request))
            let traceparent = TraceParent.of(request)
            let events = try append.events.enumerated().map { index, event in
                var extra = event.extra
                if extra[Self.writerKey] != nil {
                    throw ApiError(
                        .invalidValue, "metadata.extra.\(Self.writerKey) is set by the server (the key that wrote the event), not by a caller",
                        field: "body.events[\(index)].metadata.extra.\(Self.writerKey)")
                }
                extra[Self.writerKey] = principal.keyId
                if let traceparent { extra[CommandContext.traceparentKey] = traceparent }
                return EventData(
                    id: event.id ?? .timeOrdered(), type: event.type, data: event.data.text,
                    metadata: EventMetadata(
                        correlationId: event.correlationId, causationId: event.causationId, actor: event.actor ?? principal.keyId,
                        sourceSystem: try Self.sourceSystem(claimed: event.sourceSystem, by: principal, field: "body.events[\(index)].metadata.sourceSystem"),
                        occurredAt: event.occurredAt, extra: extra))
            }
            let result = try await client.append(toStream: stream, expected: expected, events: events)
            let reply = JSONValue.object([
                "stream": .string(result.streamName), "replayed": .bool(result.replayed),
                "events": .array(
                    result.events.map {
                        .object(["id": .string($0.id.uuidString), "streamVersion": .integer($0.streamVersion), "position": .string($0.position.description)])
                    }),
            ])
            return jsonResponse(reply, status: result.replayed ? .ok : .created, headers: TraceParent.echo(traceparent))
        }
        router.get("v1/streams/:stream/events") { request, context in
            let principal = try context.require(.service, .operator)
            let stream = try Self.pathParameter(context, "stream")
            if !principal.roles.contains(.operator) { try await requireWriter(of: stream, principal) }
            let from = try Self.integer(request, "from", in: 1...Int64.max)
            let limit = try Self.limit(request)
            let slice = try await store.readStream(stream, from: from, limit: limit)
            return try jsonResponse(StreamPage(stream: stream, events: slice.events.map(EventReply.init), next: slice.nextVersion))
        }
        router.get("v1/events") { request, context in
            _ = try context.require(.operator)
            let slice = try await store.readAll(after: try Self.position(request), limit: try Self.limit(request))
            return try jsonResponse(LogPage(events: slice.events.map(EventReply.init), next: slice.nextPosition.description, isEnd: slice.isEnd))
        }
        router.get("v1/categories/:category/events") { request, context in
            _ = try context.require(.operator)
            let category = try Self.pathParameter(context, "category")
            let slice = try await store.readCategory(category, after: try Self.position(request), limit: try Self.limit(request))
            return try jsonResponse(LogPage(events: slice.events.map(EventReply.init), next: slice.nextPosition.description, isEnd: slice.isEnd))
        }
    }

    /// A service key reads the streams it wrote: an event there carries its key id or, for a key
    /// bound to a source system, that system. Whether the stream exists is not told.
    func requireWriter(of stream: String, _ principal: Principal) async throws {
        let rows = try await store.pool.query(
            """
            SELECT EXISTS (SELECT 1 FROM events WHERE stream_name = \(stream)
                AND (metadata->'extra'->>\(Self.writerKey) = \(principal.keyId) OR metadata->>'source_system' = \(principal.sourceSystem)))
            """)
        guard try rows[0].decode(Bool.self, at: 0) else {
            throw ApiError(.forbidden, "a service key reads only the streams it wrote; stream '\(stream.prefix(200))' has no event of this key")
        }
    }

    static func expectedVersion(_ header: String?) throws -> ExpectedVersion {
        guard let header = header?.trimmingSpaces else { return .any }
        switch header {
        case "any": return .any
        case "no-stream": return .noStream
        case "exists": return .streamExists
        default:
            guard let version = Int64(header), version >= 0 else {
                throw ApiError(
                    .invalidValue, "\(expectedVersionHeader) is 'any', 'no-stream', 'exists' or a version (0 or more), not '\(header.prefix(40))'",
                    field: "header.\(expectedVersionHeader)")
            }
            return .exact(version)
        }
    }

    static func integer(_ request: Request, _ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = request.uri.queryParameters[name[...]] else { return nil }
        guard let value = Int64(String(text)), range.contains(value) else {
            throw ApiError(
                .invalidValue, "query parameter \(name) must be a whole number from \(range.lowerBound), not '\(text.prefix(40))'", field: "query.\(name)")
        }
        return value
    }

    /// `limit`: 1 to 1,000, 100 when not given.
    static func limit(_ request: Request) throws -> Int {
        Int(try integer(request, "limit", in: 1...1_000) ?? 100)
    }

    /// `after`: a position as `next` gave it (`transaction:sequence`), the log's start when not given.
    static func position(_ request: Request) throws -> GlobalPosition {
        guard let text = request.uri.queryParameters["after"] else { return .start }
        guard let position = GlobalPosition(String(text)) else {
            throw ApiError(
                .invalidValue, "query parameter after must be a position as 'next' gives it (e.g. 1234:0), not '\(text.prefix(40))'", field: "query.after")
        }
        return position
    }
}
