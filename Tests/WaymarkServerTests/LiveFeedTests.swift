import Foundation
import Glibc
import NIOHTTP1
import ServiceLifecycle
import Testing
import WaymarkEventStore
import WaymarkServer
import WaymarkTesting

@Suite("HTTP API: live feeds (Server-Sent Events)", .scaledTimeLimit(minutes: 3))
struct LiveFeedTests {
    static func delayed(_ hours: Int) -> EventData {
        EventData(type: "ShipmentDelayed", data: #"{"delayHours":\#(hours)}"#, metadata: EventMetadata(sourceSystem: "erp"))
    }

    @Test("a feed sends what committed after its position, then appends as they commit; a reconnect with Last-Event-ID misses and repeats nothing")
    func followAndResume() async throws {
        try await ServerFixture.run { fixture in
            let before = try await fixture.store.append(to: "shipment-1", events: [Self.delayed(1), Self.delayed(2), Self.delayed(3)])
            var feed = try await fixture.live("/v1/events/live?after=\(before.events[0].position)", key: fixture.key(.operator))
            let hello = try #require(try await feed.next())
            #expect(hello.retry == "2000")
            let caughtUp = [try await feed.nextEvent(), try await feed.nextEvent()]
            #expect(caughtUp.map { $0?.id } == before.events.dropFirst().map { $0.position.description })
            #expect((caughtUp[1]?.event["data"] as? [String: Any])?["delayHours"] as? Int == 3)
            #expect(caughtUp[1]?.event["stream"] as? String == "shipment-1" && caughtUp[1]?.event["streamVersion"] as? Int == 3)

            // Live: an append after the feed caught up comes on its own.
            let later = try await fixture.store.append(to: "invoice-1", events: [Self.delayed(4)])
            let live = try await feed.nextEvent()
            #expect(live?.id == later.events[0].position.description && live?.event["type"] as? String == "ShipmentDelayed")

            // The client goes away; what commits meanwhile comes after a reconnect, once.
            let missed = try await fixture.store.append(to: "shipment-2", events: [Self.delayed(5), Self.delayed(6)])
            var resumed = try await fixture.live("/v1/events/live?after=0:0", key: fixture.key(.operator), lastEventId: live?.id)
            #expect(try await resumed.nextEvent()?.id == missed.events[0].position.description)
            #expect(try await resumed.nextEvent()?.id == missed.events[1].position.description)

            // Without a position the feed starts at the head: only what commits from now on.
            var fresh = try await fixture.live("/v1/events/live", key: fixture.key(.operator))
            let next = try await fixture.store.append(to: "shipment-3", events: [Self.delayed(7)])
            #expect(try await fresh.nextEvent()?.id == next.events[0].position.description)
        }
    }

    @Test("a category's feed has that category's events only, in log order")
    func category() async throws {
        try await ServerFixture.run { fixture in
            var feed = try await fixture.live("/v1/categories/shipment/events/live?after=0:0", key: fixture.key(.operator))
            var expected: [String] = []
            for index in 1...6 {
                let stream = index.isMultiple(of: 2) ? "invoice-\(index)" : "shipment-\(index)"
                let appended = try await fixture.store.append(to: stream, events: [Self.delayed(index)])
                if stream.hasPrefix("shipment") { expected.append(appended.events[0].position.description) }
            }
            var got: [String] = []
            for _ in expected {
                let event = try #require(try await feed.nextEvent())
                #expect((event.event["stream"] as? String)?.hasPrefix("shipment-") == true)
                got.append(event.id)
            }
            #expect(got == expected)
        }
    }

    @Test("a bad Last-Event-ID or category is a problem naming it; the feed is the operators'")
    func refusals() async throws {
        try await ServerFixture.run { fixture in
            var request = try await fixture.request(
                .GET, "/v1/events/live", key: fixture.key(.operator), headers: [("Last-Event-ID", "yesterday")])
            #expect(request.status == 400 && request.json["field"] as? String == "header.Last-Event-ID", "\(request.text)")
            request = try await fixture.request(.GET, "/v1/events/live?after=soon", key: fixture.key(.operator))
            #expect(request.status == 400 && request.json["field"] as? String == "query.after", "\(request.text)")
            request = try await fixture.request(.GET, "/v1/categories/ship%20ment/events/live", key: fixture.key(.operator))
            #expect(request.status == 400, "\(request.text)")
            request = try await fixture.request(.GET, "/v1/events/live", key: fixture.key(.analyst))
            #expect(request.status == 403 && request.code == "forbidden")
        }
    }

    @Test("a quiet feed sends keep-alive comments")
    func keepAlive() async throws {
        try await ServerFixture.run(liveFeeds: LiveFeedOptions(keepAlive: .milliseconds(200))) { fixture in
            var feed = try await fixture.live("/v1/events/live", key: fixture.key(.operator))
            _ = try await feed.next()
            let frame = try #require(try await feed.next())
            #expect(frame.comment == "keep-alive" && frame.id == nil, "\(frame)")
        }
    }

    @Test("appends by another process reach the feed through the store's notifications, without polling")
    func otherProcess() async throws {
        // Polling once a minute: only the notification can bring the event in time.
        try await ServerFixture.run(liveFeeds: LiveFeedOptions(keepAlive: .seconds(120), pollInterval: .seconds(60))) { fixture in
            let other = try TestDatabase.anotherProcess(sharing: fixture.store)
            try await withServices([AppendListener(store: fixture.store), other]) {
                var feed = try await fixture.live("/v1/events/live", key: fixture.key(.operator))
                _ = try await feed.next()
                let started = ContinuousClock.now
                let appended = try await other.append(to: "shipment-9", events: [Self.delayed(9)])
                let event = try await feed.nextEvent()
                #expect(event?.id == appended.events[0].position.description)
                // The feed's poll would have brought it after a minute.
                #expect(ContinuousClock.now - started < .seconds(30))
            }
        }
    }

    @Test("a client that stops reading is dropped, not buffered for: its connection closes before the backlog is sent")
    func slowClientDropped() async throws {
        try await ServerFixture.run(liveFeeds: LiveFeedOptions(writeTimeout: .milliseconds(300), batchSize: 50)) { fixture in
            // 4,000 events of 1 KiB: far more than the socket buffers hold.
            let padding = String(repeating: "x", count: 1_000)
            for batch in 0..<40 {
                let events = (0..<100).map { _ in
                    EventData(type: "ShipmentNoted", data: #"{"note":"\#(padding)"}"#, metadata: EventMetadata(sourceSystem: "erp"))
                }
                _ = try await fixture.store.append(to: "shipment-\(batch)", events: events)
            }
            let socket = try RawClient(port: fixture.port, receiveBuffer: 4_096)
            try socket.send("GET /v1/events/live?after=0:0 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(fixture.key(.operator))\r\n\r\n")
            // The feed writes until the buffers are full, then waits for the client; past the write
            // timeout it gives up on it.
            let dropped = try await eventually(timeout: .seconds(30)) { fixture.api.liveFeedStats.dropped == 1 }
            #expect(dropped)
            let received = try socket.readToEnd()
            #expect(received > 0 && received < 4_000 * 1_000, "read \(received) bytes")
            #expect(try await eventually(timeout: .seconds(10)) { fixture.api.liveFeedStats.open == 0 })
        }
    }

    @Test("graceful shutdown ends open feeds, so the server stops")
    func shutdownEndsFeeds() async throws {
        let ended = try await ServerFixture.run(liveFeeds: LiveFeedOptions(keepAlive: .seconds(120))) { fixture -> Task<Bool, any Error> in
            var feed = try await fixture.live("/v1/events/live", key: fixture.key(.operator))
            _ = try await feed.next()
            #expect(fixture.api.liveFeedStats.open == 1)
            // The feed is read to its end while the fixture shuts the server down.
            return Task { [feed] in
                var feed = feed
                while try await feed.next() != nil {}
                return true
            }
        }
        #expect(try await ended.value)
    }
}

/// A client on a plain socket with a small receive buffer, which reads only when asked.
final class RawClient {
    let descriptor: Int32

    init(port: Int, receiveBuffer: Int32) throws {
        descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var size = receiveBuffer
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        // A server that never closes fails the test rather than hanging it.
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.EIO) }
    }

    /// Reads until the server closes the connection; the bytes read.
    func readToEnd() throws -> Int {
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { return total }
            if count < 0 { return errno == ECONNRESET ? total : -1 }
            total += count
        }
    }
}
