import Synchronization
import WaymarkDomain

/// The journeys this client decided lately, with their stream's version: a command to one of
/// them is decided on the remembered state and appended with that version as the expected
/// version, in one round trip. The cache is only a guess: when another writer moved the journey
/// on, the append's expectation fails and the client loads the journey and decides again.
///
/// Two generations approximate least-recently-used: a hit in the older one moves the entry to the
/// newer, and when the newer one fills up the older one is dropped.
final class JourneyStateCache: Sendable {
    struct Entry: Sendable {
        var state: JourneyState
        var streamVersion: Int64
    }

    private struct Generations {
        var recent: [String: Entry] = [:]
        var older: [String: Entry] = [:]
    }

    private let generations = Mutex(Generations())
    let capacity: Int

    init(capacity: Int) { self.capacity = max(0, capacity) }

    func entry(for journeyId: String) -> Entry? {
        guard capacity > 0 else { return nil }
        return generations.withLock { generations in
            if let entry = generations.recent[journeyId] { return entry }
            guard let entry = generations.older.removeValue(forKey: journeyId) else { return nil }
            Self.insert(journeyId, entry, into: &generations, capacity: capacity)
            return entry
        }
    }

    func remember(_ journeyId: String, _ entry: Entry) {
        guard capacity > 0 else { return }
        generations.withLock { Self.insert(journeyId, entry, into: &$0, capacity: capacity) }
    }

    func forget(_ journeyId: String) {
        generations.withLock {
            $0.recent[journeyId] = nil
            $0.older[journeyId] = nil
        }
    }

    private static func insert(_ journeyId: String, _ entry: Entry, into generations: inout Generations, capacity: Int) {
        if generations.recent[journeyId] == nil, generations.recent.count >= (capacity + 1) / 2 {
            generations.older = generations.recent
            generations.recent = [:]
        }
        generations.recent[journeyId] = entry
        generations.older[journeyId] = nil
    }
}
