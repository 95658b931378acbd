import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import WaymarkEventStore

extension BenchHTTP {
    /// When each append returned, by position.
    final class Commits: Sendable {
        let times = Mutex<[String: ContinuousClock.Instant]>([:])
    }

    /// Appends at a steady pace, followed by an SSE client of `/v1/events/live` and, as the
    /// baseline, by an in-process reader of the log woken by the same signal the feed waits on.
    /// The delay runs from the append's return (its commit) to the event's arrival.
    func live(store: EventStore, caller: Caller) async throws {
        let clock = ContinuousClock()
        var request = HTTPClientRequest(url: caller.base + "/v1/events/live")
        request.headers.add(name: "authorization", value: "Bearer \(caller.key)")
        let response = try await caller.http.execute(request, deadline: .distantFuture)
        guard response.status == .ok else { throw CancellationError() }
        var body = response.body.makeAsyncIterator()
        var pending = ""
        // The feed's first frame: it is running from the head on.
        while !pending.contains("\n\n"), let buffer = try await body.next() { pending += String(buffer: buffer) }
        pending = ""

        let committed = Commits()
        let count = liveEvents
        let start = try await store.head().lastPosition ?? .start
        let background = Task {
            try await withThrowingTaskGroup(of: [String: ContinuousClock.Instant].self) { group in
                group.addTask {
                    for index in 0..<count {
                        let result = try await store.append(
                            to: "shipment-live\(index / 8)", events: [EventData(type: "ShipmentDelayed", data: #"{"delayHours":\#(index)}"#)])
                        let now = clock.now
                        committed.times.withLock { $0[result.events[0].position.description] = now }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    return [:]
                }
                group.addTask { try await Self.follow(store, after: start, count: count, clock: clock) }
                var arrivals: [String: ContinuousClock.Instant] = [:]
                for try await part in group { arrivals.merge(part) { first, _ in first } }
                return arrivals
            }
        }
        var arrivals: [String: ContinuousClock.Instant] = [:]
        while arrivals.count < count, let buffer = try await body.next() {
            let now = clock.now
            pending += String(buffer: buffer)
            while let end = pending.range(of: "\n\n") {
                let frame = pending[..<end.lowerBound]
                if let line = frame.split(separator: "\n").first(where: { $0.hasPrefix("id: ") }) { arrivals[String(line.dropFirst(4))] = now }
                pending.removeSubrange(..<end.upperBound)
            }
        }
        let local = try await background.value
        let commits = committed.times.withLock { $0 }
        func delays(_ arrived: [String: ContinuousClock.Instant]) -> [Duration] {
            commits.compactMap { id, at in arrived[id].map { max(.zero, $0 - at) } }.sorted()
        }
        let sse = delays(arrivals)
        let baseline = delays(local)
        guard !sse.isEmpty, !baseline.isEmpty else { throw CancellationError() }
        func percentile(_ sorted: [Duration], _ share: Int) -> Double { sorted[min(sorted.count - 1, sorted.count * share / 100)].milliseconds }
        let p99 = percentile(sse, 99)
        print(
            "live, \(count) appends at ~400/s".padding(toLength: 28, withPad: " ", startingAt: 0),
            String(
                format: "commit → SSE p50 %6.2f ms  p99 %6.2f ms | in-process reader p50 %6.2f ms  p99 %6.2f ms | (target SSE p99 ≤ 100 ms) %@",
                percentile(sse, 50), p99, percentile(baseline, 50), percentile(baseline, 99), p99 <= 100 ? "ok" : "ABOVE TARGET"))
    }

    /// Reads the log after `position` on every append signal until `count` events came; when each arrived.
    static func follow(
        _ store: EventStore, after position: GlobalPosition, count: Int, clock: ContinuousClock
    ) async throws -> [String: ContinuousClock.Instant] {
        var position = position
        var arrivals: [String: ContinuousClock.Instant] = [:]
        while arrivals.count < count {
            let generation = store.appended.generation
            let slice = try await store.readAll(after: position, limit: 500)
            let now = clock.now
            for event in slice.events { arrivals[event.position.description] = now }
            position = slice.nextPosition
            if slice.isEnd { await store.appended.wait(after: generation, timeout: .milliseconds(5)) }
        }
        return arrivals
    }
}
