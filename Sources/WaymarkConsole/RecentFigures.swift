import Foundation
import Synchronization
import WaymarkEventStore

/// Figures over a journey type's history (medians and p90s, transitions taken, variants, CSAT and
/// NPS by week) as a computation left them, kept for `maxAge`: on a large store they cost a good
/// part of a second, and a minute changes them little. Only the first request for a key waits for
/// them; once they are older than `maxAge` a request gets them as they are and starts one
/// computation in the background, whose figures the requests after it get. Requests share one
/// computation in flight; a failed one keeps nothing and the next request tries again. Pages say
/// how old their figures are.
final class RecentFigures<Value: Sendable>: Sendable {
    struct Figures {
        var value: Value
        var computedAt: Date
    }

    private struct Computation {
        var id: UInt64
        var task: Task<Figures, any Error>
    }

    private struct Entry {
        var figures: Figures?
        var computing: Computation?
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

    /// The figures under `key`: the last ones computed, when there are any (computed again in the
    /// background once older than `maxAge`); else `compute`'s, waited for.
    func figures(_ key: String, compute: @escaping @Sendable () async throws -> Value) async throws -> Figures {
        let now = time.now()
        let (kept, computation) = state.withLock { state -> (Figures?, Computation?) in
            var entry = state.entries[key] ?? Entry()
            if let figures = entry.figures, now.timeIntervalSince(figures.computedAt) < WallTime.seconds(maxAge) { return (figures, nil) }
            if entry.computing == nil {
                state.nextId += 1
                let id = state.nextId
                entry.computing = Computation(
                    id: id,
                    task: Task {
                        do {
                            let figures = Figures(value: try await compute(), computedAt: now)
                            self.finish(key, id, with: figures)
                            return figures
                        } catch {
                            self.finish(key, id, with: nil)
                            throw error
                        }
                    })
                state.entries[key] = entry
            }
            return (entry.figures, entry.computing)
        }
        if let kept { return kept }
        return try await computation!.task.value
    }

    /// Waits for the computation under `key` in flight, if any (tests).
    func settled(_ key: String) async {
        let task = state.withLock { $0.entries[key]?.computing?.task }
        _ = try? await task?.value
    }

    private func finish(_ key: String, _ id: UInt64, with figures: Figures?) {
        state.withLock { state in
            guard state.entries[key]?.computing?.id == id else { return }
            state.entries[key]?.computing = nil
            if let figures { state.entries[key]?.figures = figures }
        }
    }
}
