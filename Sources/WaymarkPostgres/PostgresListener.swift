import CLibPQ
import Foundation
import Logging
import Synchronization

/// What a `PostgresListener` reports.
public enum PostgresListenerEvent: Sendable, Equatable {
    /// LISTEN is in effect (first connect or reconnect). Notifications sent while disconnected are
    /// lost, so a consumer should re-check whatever it watches.
    case listening
    case notification(channel: String, payload: String)
}

/// LISTEN on a dedicated connection driven by its own thread, reconnecting when the connection
/// breaks. Waiting for notifications blocks in `poll(2)`, never on Swift's cooperative pool.
public final class PostgresListener: Sendable {
    private let configuration: PostgresConfiguration
    private let channels: [String]
    private let logger: Logger
    private let onEvent: @Sendable (PostgresListenerEvent) -> Void
    private struct Lifecycle {
        var stopRequested = false
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let lifecycle = Mutex(Lifecycle())

    public init(
        configuration: PostgresConfiguration, channels: [String], logger: Logger,
        onEvent: @escaping @Sendable (PostgresListenerEvent) -> Void
    ) {
        self.configuration = configuration
        self.channels = channels
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Starts the listening thread.
    public func start() {
        let thread = Thread { [self] in
            self.loop()
            let waiter = self.lifecycle.withLock { state -> CheckedContinuation<Void, Never>? in
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        thread.name = "waymark-pg-listen"
        thread.start()
    }

    /// Stops listening and waits for the thread to close its connection.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = lifecycle.withLock { state -> Bool in
                state.stopRequested = true
                if !state.finished { state.waiter = continuation }
                return state.finished
            }
            if done { continuation.resume() }
        }
    }

    private var isStopped: Bool { lifecycle.withLock { $0.stopRequested } }

    private func loop() {
        var backoffMillis = 50
        while !isStopped {
            let pg: OpaquePointer
            do {
                pg = try PostgresConnection.connectBlocking(configuration)
            } catch {
                logger.warning("listener cannot connect, retrying", metadata: ["waymark.error": "\(error)", "waymark.retry_ms": "\(backoffMillis)"])
                sleepUnlessStopped(milliseconds: backoffMillis)
                backoffMillis = min(backoffMillis * 2, 5_000)
                continue
            }
            defer { PQfinish(pg) }
            var listening = true
            for channel in channels {
                guard let result = PQexec(pg, "LISTEN " + PostgresIdentifier.quote(channel)) else {
                    listening = false
                    break
                }
                if PQresultStatus(result) != PGRES_COMMAND_OK { listening = false }
                PQclear(result)
            }
            guard listening else {
                sleepUnlessStopped(milliseconds: backoffMillis)
                continue
            }
            backoffMillis = 50
            onEvent(.listening)
            let socket = PQsocket(pg)
            while !isStopped {
                var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, 200)
                if ready < 0 && errno != EINTR { break }
                if ready <= 0 { continue }
                guard PQconsumeInput(pg) == 1 else {
                    logger.warning("listener connection lost, reconnecting", metadata: ["waymark.error": "\(String(cString: PQerrorMessage(pg)))"])
                    break
                }
                while let notify = PQnotifies(pg) {
                    let channel = String(cString: notify.pointee.relname)
                    let payload = String(cString: notify.pointee.extra)
                    PQfreemem(notify)
                    onEvent(.notification(channel: channel, payload: payload))
                }
            }
        }
    }

    private func sleepUnlessStopped(milliseconds: Int) {
        var remaining = milliseconds
        while remaining > 0 && !isStopped {
            let step = min(remaining, 50)
            usleep(UInt32(step * 1000))
            remaining -= step
        }
    }
}
