import Synchronization

/// What this process knows for sure about streams: a version each stream has reached.
///
/// Events are never updated or deleted, so once a version has been seen committed the stream holds
/// at least that many events from then on: the figure is a lower bound, never stale in the unsafe
/// direction. An append that expects `.exact(n)` with a known lower bound ≥ n needs no look-up of the
/// stream's version: the stream has at least n events, and the unique (stream, version) index
/// refuses version n + 1 if it has more, so the insert of n + 1 succeeds exactly when the stream
/// held n events.
///
/// The bound holds only for the same table on the same server. A failover to a replica that missed
/// the last commits, a restore from backup or a dropped and re-created schema can each leave a
/// stream shorter than a bound learned before. Every entry therefore carries the server's start
/// time and the events table's oid as they were when it was learned, and the append that relies on
/// it has the server check both in the same statement; a mismatch empties the cache.
final class StreamVersionCache: Sendable {
    /// Where a bound was learned: the server incarnation and the table.
    struct Origin: Hashable, Sendable {
        var serverStartTime: String
        var tableOID: Int64
    }

    struct Entry: Sendable {
        var version: Int64
        var origin: Origin
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var hits: UInt64 = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The bound for `stream` if one is known and at least `version`.
    func bound(for stream: String, atLeast version: Int64) -> Entry? {
        state.withLock { state in
            guard let entry = state.entries[stream], entry.version >= version else { return nil }
            state.hits &+= 1
            return entry
        }
    }

    /// Records that `stream` reached `version`, as learned on `origin`. A bound from another origin
    /// replaces the old one; from the same origin, the higher bound wins.
    func record(_ stream: String, version: Int64, origin: Origin) {
        guard version > 0, capacity > 0 else { return }
        state.withLock { state in
            if let old = state.entries[stream], old.origin == origin, old.version >= version { return }
            if state.entries.count >= capacity && state.entries[stream] == nil {
                // Full: start again rather than track recency on every append. A forgotten bound
                // costs one look-up of the stream's version, never correctness.
                state.entries.removeAll(keepingCapacity: true)
            }
            state.entries[stream] = Entry(version: version, origin: origin)
        }
    }

    /// Forgets every bound (the server refused an origin).
    func removeAll() {
        state.withLock { $0.entries.removeAll() }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// Appends that used a bound instead of looking the version up.
    var hits: UInt64 { state.withLock { $0.hits } }
}
