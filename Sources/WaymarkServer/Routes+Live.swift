import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization
import WaymarkEventStore

/// How the live feeds (Server-Sent Events of the log or a category) behave.
public struct LiveFeedOptions: Sendable {
    /// A comment is sent after this long without events, so that the client and any proxy between
    /// know the feed is alive, and a client that went away is noticed.
    public var keepAlive: Duration
    /// A client that has not taken a write for this long is dropped (its connection closed): the
    /// server holds a page per feed at most, never a backlog.
    public var writeTimeout: Duration
    /// A feed reads at least this often without a wake-up: events held back by an open
    /// transaction, or announced while the listener reconnected, still come.
    public var pollInterval: Duration
    /// Events per read and per write.
    public var batchSize: Int

    public init(keepAlive: Duration = .seconds(15), writeTimeout: Duration = .seconds(30), pollInterval: Duration = .seconds(1), batchSize: Int = 200) {
        self.keepAlive = keepAlive
        self.writeTimeout = writeTimeout
        self.pollInterval = pollInterval
        self.batchSize = batchSize
    }
}

/// The live feeds open now and the clients dropped for not reading, for operators (also as the
/// metrics `waymark_http_live_feeds` and `waymark_http_live_dropped_total`) and tests.
public final class LiveFeedStats: Sendable {
    private let counts = Mutex((open: 0, dropped: 0))
    let openGauge: Gauge
    let droppedCounter: Counter

    init(factory: any MetricsFactory) {
        openGauge = Gauge(label: "waymark_http_live_feeds", factory: factory)
        droppedCounter = Counter(label: "waymark_http_live_dropped_total", factory: factory)
    }

    public var open: Int { counts.withLock { $0.open } }
    public var dropped: Int { counts.withLock { $0.dropped } }

    func update(open delta: Int = 0, dropped more: Int = 0) {
        let open = counts.withLock { counts in
            counts.open += delta
            counts.dropped += more
            return counts.open
        }
        openGauge.record(open)
        if more > 0 { droppedCounter.increment(by: more) }
    }
}

extension ApiServer {
    static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!

    /// `GET /v1/events/live` and `/v1/categories/{category}/events/live` (role operator): events as
    /// they commit, as Server-Sent Events whose ids are positions. A reconnecting client sends the
    /// last id it got as `Last-Event-ID` and misses nothing; without one the feed starts after
    /// `after`, or at the log's head.
    func addLiveRoutes(to router: Router<ApiContext>) {
        router.get("v1/events/live") { request, context in
            _ = try context.require(.operator)
            return try await liveFeed(request, context, category: nil)
        }
        router.get("v1/categories/:category/events/live") { request, context in
            _ = try context.require(.operator)
            return try await liveFeed(request, context, category: try Self.pathParameter(context, "category"))
        }
    }

    /// A live feed of the log or a category from where the request asks: whole events, or (`positionsOnly`)
    /// each event's position, stream and type, which tell a page that something changed and where.
    package func liveFeed(_ request: Request, _ context: ApiContext, category: String?, positionsOnly: Bool = false) async throws -> Response {
        let start = try await liveStart(request)
        let feed = LiveFeed(
            store: store, category: category, positionsOnly: positionsOnly, options: liveFeeds, stats: liveFeedStats, channel: context.channel,
            logger: logger)
        // The first page is read before the reply starts, so that a bad category is a problem reply.
        let first = try await feed.read(after: start)
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: ResponseBody { writer in
                try await feed.run(after: start, first: first, writer: &writer)
                try await writer.finish(nil)
            })
    }

    /// Where a feed starts: after `Last-Event-ID` when a client reconnects, else after `after`,
    /// else at the log's head (only what commits from now on).
    private func liveStart(_ request: Request) async throws -> GlobalPosition {
        if let lastId = request.headers[Self.lastEventIDHeader]?.trimmingSpaces, !lastId.isEmpty {
            guard let position = GlobalPosition(lastId) else {
                throw ApiError(
                    .invalidValue, "Last-Event-ID must be an event id this feed sent (a position such as 1234:0), not '\(lastId.prefix(40))'",
                    field: "header.Last-Event-ID")
            }
            return position
        }
        if request.uri.queryParameters["after"] != nil { return try Self.position(request) }
        return try await store.head().lastPosition ?? .start
    }
}

/// One client's feed: reads a page, writes it, waits for the next append; a keep-alive comment when
/// quiet; ends on graceful shutdown, and drops a client that stops reading.
struct LiveFeed: Sendable {
    static let firstRetry = Duration.milliseconds(5)
    let store: EventStore
    let category: String?
    let positionsOnly: Bool
    let options: LiveFeedOptions
    let stats: LiveFeedStats
    let channel: any Channel
    let logger: Logger

    func read(after position: GlobalPosition) async throws -> GlobalSlice {
        if let category { return try await store.readCategory(category, after: position, limit: options.batchSize) }
        return try await store.readAll(after: position, limit: options.batchSize)
    }

    func run(after start: GlobalPosition, first: GlobalSlice, writer: inout any ResponseBodyWriter) async throws {
        stats.update(open: 1)
        defer { stats.update(open: -1) }
        let stopping = ChangeSignal()
        let appended = store.appended
        try await withGracefulShutdownHandler {
            let encoder = JSONEncoder()
            var position = start
            var slice: GlobalSlice? = first
            var lastWrite = ContinuousClock.now
            var idle = Self.firstRetry
            // `retry`: how long an EventSource waits before it reconnects.
            try await send(ByteBuffer(string: "retry: 2000\n: waymark live feed after \(start)\n\n"), &writer)
            while stopping.generation == 0 && !Task.isCancelled {
                let generation = appended.generation
                let page: GlobalSlice
                if let first = slice {
                    page = first
                    slice = nil
                } else {
                    page = try await read(after: position)
                }
                position = page.nextPosition
                if !page.events.isEmpty {
                    var buffer = ByteBuffer()
                    for event in page.events {
                        buffer.writeString("id: \(event.position)\ndata: ")
                        if positionsOnly {
                            buffer.writeString(JSONValue.object(["stream": .string(event.streamName), "type": .string(event.type)]).text)
                        } else {
                            buffer.writeBytes(try encoder.encode(ApiServer.EventReply(event)))
                        }
                        buffer.writeString("\n\n")
                    }
                    try await send(buffer, &writer)
                    lastWrite = .now
                    idle = Self.firstRetry
                    if !page.isEnd { continue }
                }
                let quiet = ContinuousClock.now - lastWrite
                if quiet >= options.keepAlive {
                    try await send(ByteBuffer(string: ": keep-alive\n\n"), &writer)
                    lastWrite = .now
                    continue
                }
                await appended.wait(after: generation, timeout: min(idle, options.pollInterval, options.keepAlive - quiet))
                // After a wake-up the events may still be held back behind an open transaction:
                // read again soon, then less and less often.
                idle = appended.generation != generation ? Self.firstRetry : min(idle * 2, options.pollInterval)
            }
        } onGracefulShutdown: {
            stopping.bump()
            appended.bump()
        }
    }

    /// Writes, closing the connection when the client has not taken the write within the timeout:
    /// the write then fails and the feed ends.
    private func send(_ buffer: ByteBuffer, _ writer: inout any ResponseBodyWriter) async throws {
        let channel = self.channel
        let stats = self.stats
        let logger = self.logger
        let watchdog = channel.eventLoop.scheduleTask(in: TimeAmount(options.writeTimeout)) {
            logger.info("live feed dropped: the client did not read for \(options.writeTimeout)")
            stats.update(dropped: 1)
            channel.close(promise: nil)
        }
        defer { watchdog.cancel() }
        try await writer.write(buffer)
    }
}
