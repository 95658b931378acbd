import Synchronization

/// The streams (journeys, consent subjects, customers) this client decided on lately, with their
/// state and version: a command to one of them is decided on the remembered state and appended
/// with that version as the expected version, in one round trip. The cache is only a guess: when
/// another writer moved the stream on, the append's expectation fails and the client loads the
/// stream and decides again.
///
/// Two generations approximate least-recently-used: a hit in the older one moves the entry to the
/// newer, and when the newer one fills up the older one is dropped. The keys are spread over
/// shards with a lock each, so that concurrent senders rarely wait for each other.
final class StateCache<State: Sendable>: Sendable {
    struct Entry: Sendable {
        var state: State
        var streamVersion: Int64
    }

    private struct Generations {
        var recent: [String: Entry] = [:]
        var older: [String: Entry] = [:]
    }

    private final class Shard: Sendable {
        let generations = Mutex(Generations())
    }

    private let shards: [Shard]
    let capacity: Int
    private let shardCapacity: Int

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        let count = self.capacity >= 1_024 ? 16 : 1
        shards = (0..<count).map { _ in Shard() }
        shardCapacity = (self.capacity + count - 1) / count
    }

    private func shard(_ key: String) -> Shard {
        shards.count == 1 ? shards[0] : shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
    }

    func entry(for key: String) -> Entry? {
        guard capacity > 0 else { return nil }
        return shard(key).generations.withLock { generations in
            if let entry = generations.recent[key] { return entry }
            guard let entry = generations.older.removeValue(forKey: key) else { return nil }
            Self.insert(key, entry, into: &generations, capacity: shardCapacity)
            return entry
        }
    }

    func remember(_ key: String, _ entry: Entry) {
        guard capacity > 0 else { return }
        shard(key).generations.withLock { Self.insert(key, entry, into: &$0, capacity: shardCapacity) }
    }

    func forget(_ key: String) {
        shard(key).generations.withLock {
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

/// The state caches of a client, one per decider category, made when first needed: a new
/// aggregate gets one without a change to the client.
final class StateCaches: Sendable {
    /// Keyed by the state's type too: two deciders of one category with different states must
    /// not read each other's entries.
    private struct Key: Hashable {
        var category: String
        var state: ObjectIdentifier
    }

    private let caches = Mutex<[Key: any Sendable]>([:])
    /// The capacity of a cache made without one named.
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func cache<State: Sendable>(_ category: String, of: State.Type, capacity: Int? = nil) -> StateCache<State> {
        caches.withLock { caches in
            let key = Key(category: category, state: ObjectIdentifier(State.self))
            if let cache = caches[key] as? StateCache<State> { return cache }
            let cache = StateCache<State>(capacity: capacity ?? self.capacity)
            caches[key] = cache
            return cache
        }
    }
}
