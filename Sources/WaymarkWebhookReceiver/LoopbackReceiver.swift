import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import WaymarkNotifications

/// A webhook receiver on 127.0.0.1 (Hummingbird 2), as a customer's endpoint would be: it checks
/// every delivery's signature and timestamp with `WebhookVerifier`, records what it saw, and
/// answers 401 to a delivery that fails the check, otherwise as told. For the tests, the
/// notifications bench and the demo.
public final class LoopbackReceiver: Sendable {
    public enum Answer: Sendable {
        case status(Int)
        /// Holds every request until `release()` or until the test is done with it: slower than any timeout.
        case stall
        /// Answers `status` after holding the request for `delay` (a slow receiver).
        case slow(Duration, status: Int)
        /// The status for the `attempt`th request (from 1) with webhook-id `id`.
        case script(@Sendable (_ id: String, _ attempt: Int) -> Int)
        /// The status and headers (e.g. `retry-after`) for the `attempt`th request with webhook-id `id`.
        case reply(@Sendable (_ id: String, _ attempt: Int) -> (status: Int, headers: [String: String]))
    }

    public struct Delivery: Sendable {
        public var id: String?
        public var contentType: String?
        public var body: [UInt8]
        /// nil when the signature and timestamp checked out.
        public var refusal: WebhookSignatureError.Code?
        /// When it arrived, by the receiver's clock.
        public var receivedAt: Date
    }

    let verifier: WebhookVerifier
    let answer: Answer
    /// Every request in order, and how many came per `webhook-id` (a scan per request made the
    /// receiver the bench's bottleneck once it held tens of thousands).
    private let seen = Mutex<(all: [Delivery], attempts: [String: Int])>(([], [:]))
    private let concurrency = Mutex<(now: Int, most: Int)>((0, 0))

    /// The most requests it held at once.
    public var mostAtOnce: Int { concurrency.withLock { $0.most } }
    private let gate = Gate()

    public var deliveries: [Delivery] { seen.withLock { $0.all } }
    /// Requests it holds now (answering or stalled).
    public var holding: Int { concurrency.withLock { $0.now } }

    /// Answers every stalled request, and every later one at once (`Answer.stall`).
    public func release() async { await gate.open() }
    public var count: Int { seen.withLock { $0.all.count } }

    public init(secrets: [WebhookSecret], answer: Answer) {
        self.verifier = WebhookVerifier(secrets: secrets, tolerance: .seconds(300))
        self.answer = answer
    }

    func handle(_ request: Request) async throws -> Response {
        concurrency.withLock {
            $0.now += 1
            $0.most = max($0.most, $0.now)
        }
        defer { concurrency.withLock { $0.now -= 1 } }
        let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        func header(_ name: String) -> String? { request.headers.first { $0.name.canonicalName == name }?.value }
        var delivery = Delivery(id: header("webhook-id"), contentType: header("content-type"), body: body, refusal: nil, receivedAt: Date())
        do {
            try verifier.verify(header: header, body: body, now: Date())
        } catch let error as WebhookSignatureError {
            delivery.refusal = error.code
        }
        let attempt = seen.withLock {
            $0.all.append(delivery)
            $0.attempts[delivery.id ?? "", default: 0] += 1
            return $0.attempts[delivery.id ?? "", default: 0]
        }
        if delivery.refusal != nil { return Response(status: .unauthorized) }
        switch answer {
        case .status(let code): return Response(status: HTTPResponse.Status(code: code))
        case .slow(let delay, let status):
            try await Task.sleep(for: delay)
            return Response(status: HTTPResponse.Status(code: status))
        case .script(let status): return Response(status: HTTPResponse.Status(code: status(delivery.id ?? "", attempt)))
        case .reply(let reply):
            let (status, fields) = reply(delivery.id ?? "", attempt)
            var headers = HTTPFields()
            for (name, value) in fields { if let name = HTTPField.Name(name) { headers[name] = value } }
            return Response(status: HTTPResponse.Status(code: status), headers: headers)
        case .stall:
            await gate.wait()
            return Response(status: .ok)
        }
    }

    /// Runs a receiver for the duration of `body`, which gets the receiver and its URL.
    public static func run<T: Sendable>(
        secrets: [WebhookSecret], answer: Answer = .status(204), _ body: @Sendable (LoopbackReceiver, URL) async throws -> T
    ) async throws -> T {
        let receiver = LoopbackReceiver(secrets: secrets, answer: answer)
        let router = Router()
        router.post("hook") { request, _ in try await receiver.handle(request) }
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        var quiet = Logger(label: "loopback-receiver")
        // Stopping by cancellation logs an error from HummingbirdCore; nothing below critical matters here.
        quiet.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portSink.yield(channel.localAddress?.port ?? 0)
                portSink.finish()
            }, logger: quiet)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw CancellationError() }
            let url = URL(string: "http://127.0.0.1:\(port)/hook")!
            do {
                let result = try await body(receiver, url)
                await receiver.gate.open()
                group.cancelAll()
                return result
            } catch {
                await receiver.gate.open()
                group.cancelAll()
                throw error
            }
        }
    }
}

/// Holds waiters until opened; opened once, it lets everyone through.
public actor Gate {
    public init() {}

    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
}
