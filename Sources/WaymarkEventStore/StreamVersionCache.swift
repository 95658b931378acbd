import Synchronization

/// What this process knows for sure about streams: a version each stream has reached.
///
/// Events are never updated or deleted, so once a version has been seen committed the stream holds
/// at least that many events from then on: the figure is a lower bound, never stale in the unsafe
/// direction. An append that expects `.exact(n)` with a known lower bound ≥ n needs no look-up of the
/// stream's version: the stream has at least n events, and the unique (stream, version) index
/// refuses version n + 1 if it has more, so the insert of n + 1 succeeds exactly when the stream
/// held n events. For the same reason an append that expects `.any` can try the bound as the
/// current version: it lands right after it or is refused, never leaves a gap.
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
        /// Another writer appended to the stream after this process learned its version, at least
        /// once: an append that does not state the version it expects should look it up.
        var contended = false
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

    /// The bound for `stream` if one is known and at least `version`. With `guessing` (the caller
    /// will take the bound as the current version), none for a contended stream.
    func bound(for stream: String, atLeast version: Int64, guessing: Bool = false) -> Entry? {
        state.withLock { state in
            guard let entry = state.entries[stream], entry.version >= version, !(guessing && entry.contended) else { return nil }
            state.hits &+= 1
            return entry
        }
    }

    /// Records that `stream` reached `version`, as learned on `origin`. A bound from another origin
    /// replaces the old one; from the same origin, the higher bound wins.
    func record(_ stream: String, version: Int64, origin: Origin) {
        guard version > 0, capacity > 0 else { return }
        state.withLock { state in
            var contended = false
            if let old = state.entries[stream], old.origin == origin {
                if old.version >= version { return }
                contended = old.contended
            }
            if state.entries.count >= capacity && state.entries[stream] == nil {
                // Full: start again rather than track recency on every append. A forgotten bound
                // costs one look-up of the stream's version, never correctness.
                state.entries.removeAll(keepingCapacity: true)
            }
            state.entries[stream] = Entry(version: version, origin: origin, contended: contended)
        }
    }

    /// Notes that a guess at `stream`'s version lost to another writer.
    func markContended(_ stream: String) {
        state.withLock { state in state.entries[stream]?.contended = true }
    }

    func isContended(_ stream: String) -> Bool {
        state.withLock { $0.entries[stream]?.contended ?? false }
    }

    /// Forgets every bound (the server refused an origin).
    func removeAll() {
        state.withLock { $0.entries.removeAll() }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// Appends that used a bound instead of looking the version up.
    var hits: UInt64 { state.withLock { $0.hits } }
}
