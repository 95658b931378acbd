import Synchronization

/// The streams (journeys, consent subjects, customers) this client decided on lately, with their
/// state and version: a command to one of them is decided on the remembered state and appended
/// with that version as the expected version, in one round trip. The cache is only a guess: when
/// another writer moved the stream on, the append's expectation fails and the client loads the
/// stream and decides again.
///
/// Two generations approximate least-recently-used: a hit in the older one moves the entry to the
/// newer, and when the newer one fills up the older one is dropped.
final class StateCache<State: Sendable>: Sendable {
    struct Entry: Sendable {
        var state: State
        var streamVersion: Int64
    }

    private struct Generations {
        var recent: [String: Entry] = [:]
        var older: [String: Entry] = [:]
    }

    private let generations = Mutex(Generations())
    let capacity: Int

    init(capacity: Int) { self.capacity = max(0, capacity) }

    func entry(for key: String) -> Entry? {
        guard capacity > 0 else { return nil }
        return generations.withLock { generations in
            if let entry = generations.recent[key] { return entry }
            guard let entry = generations.older.removeValue(forKey: key) else { return nil }
            Self.insert(key, entry, into: &generations, capacity: capacity)
            return entry
        }
    }

    func remember(_ key: String, _ entry: Entry) {
        guard capacity > 0 else { return }
        generations.withLock { Self.insert(key, entry, into: &$0, capacity: capacity) }
    }

    func forget(_ key: String) {
        generations.withLock {
            $0.recent[key] = nil
            $0.older[key] = nil
        }
    }

    private static func insert(_ key: String, _ entry: Entry, into generations: inout Generations, capacity: Int) {
        if generations.recent[key] == nil, generations.recent.count >= (capacity + 1) / 2 {
            generations.older = generations.recent
            generations.recent = [:]
        }
        generations.recent[key] = entry
        generations.older[key] = nil
    }
}
