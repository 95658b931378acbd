import Foundation
import Synchronization
import WaymarkEventStore

/// Figures over a journey type's history (medians and p90s, transitions taken, variants, CSAT and
/// NPS by week) as one request computed them, kept for `maxAge`: on a large store they cost a
/// good part of a second, and a minute changes them little. Requests meanwhile share them, and
/// share one computation in flight; a failed computation is not kept. Pages say how old they are.
final class RecentFigures<Value: Sendable>: Sendable {
    struct Figures {
        var value: Value
        var computedAt: Date
    }

    private struct Entry {
        var id: UInt64
        var computedAt: Date
        var task: Task<Value, any Error>
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var nextId: UInt64 = 0
    }

    private let state = Mutex(State())
    let maxAge: Duration
    let time: WallTime

    init(maxAge: Duration, time: WallTime = .system) {
        self.maxAge = maxAge
        self.time = time
    }

    /// The figures under `key`: those computed less than `maxAge` ago, else `compute`'s.
    func figures(_ key: String, compute: @escaping @Sendable () async throws -> Value) async throws -> Figures {
        let now = time.now()
        let entry = state.withLock { state -> Entry in
            if let entry = state.entries[key], now.timeIntervalSince(entry.computedAt) < WallTime.seconds(maxAge) { return entry }
            state.nextId += 1
            let entry = Entry(id: state.nextId, computedAt: now, task: Task { try await compute() })
            state.entries[key] = entry
            return entry
        }
        do {
            return Figures(value: try await entry.task.value, computedAt: entry.computedAt)
        } catch {
            state.withLock { state in
                if state.entries[key]?.id == entry.id { state.entries[key] = nil }
            }
            throw error
        }
    }
}
