import Foundation
import Synchronization
import WaymarkDomain

/// What one delivery worker's process already knows, so that it does not decode a notification
/// three times: the requests its outbox feed read (a claim finds its request here instead of
/// decoding the row's copy), and the outcomes its recorder closed (the feed, reading them back
/// from the log, passes over them instead of decoding them and closing their rows again).
///
/// Only a shortcut: a request it does not hold is read from `nt_deliveries`, an outcome it does
/// not hold is decoded and closed by the feed (closing a closed row changes nothing). Both are
/// bounded, forgetting the oldest half at a time, because another worker's feed or recorder may
/// take what this one remembers.
final class WorkerMemory: Sendable {
    private let requests: Mutex<Generations<String, NotificationEvent.Requested>>
    private let closedOutcomes: Mutex<Generations<UUID, Void>>

    init(capacity: Int = 20_000) {
        requests = Mutex(Generations(capacity: capacity))
        closedOutcomes = Mutex(Generations(capacity: capacity))
    }

    /// Requests the feed read, once its batch committed.
    func remember(_ read: [NotificationEvent.Requested]) {
        requests.withLock { requests in
            for request in read { requests.insert(request.notificationId, request) }
        }
    }

    /// The request of notification `id` if the feed read it, and it is the one the row holds.
    func request(_ id: String, eventId: UUID) -> NotificationEvent.Requested? {
        guard let request = requests.withLock({ $0.value(id) }),
            NotificationEvent.requestEventId(notificationId: request.notificationId) == eventId
        else { return nil }
        return request
    }

    /// Notifications the recorder closed: their requests are not needed again, and their outcome
    /// events need not be read again.
    func closed(_ ids: [String]) {
        let outcomes = ids.map { NotificationEvent.outcomeEventId(notificationId: $0) }
        requests.withLock { requests in
            for id in ids { requests.remove(id) }
        }
        closedOutcomes.withLock { closed in
            for outcome in outcomes { closed.insert(outcome, ()) }
        }
    }

    /// Whether the recorder closed the notification whose outcome event is `eventId`; forgets it,
    /// since the feed reads each event once (a batch that runs again decodes it, to no harm).
    func takeClosedOutcome(_ eventId: UUID) -> Bool {
        closedOutcomes.withLock { $0.remove(eventId) != nil }
    }
}

/// A map that holds at most `capacity` entries: when the newer half fills, the older half is
/// dropped and the newer becomes the older.
struct Generations<Key: Hashable, Value> {
    let capacity: Int
    private var newer: [Key: Value] = [:]
    private var older: [Key: Value] = [:]

    init(capacity: Int) {
        precondition(capacity >= 2, "a bounded map holds at least two entries")
        self.capacity = capacity
    }

    var count: Int { newer.count + older.count }

    mutating func insert(_ key: Key, _ value: Value) {
        if newer.count >= capacity / 2 {
            older = newer
            newer = [:]
        }
        older.removeValue(forKey: key)
        newer[key] = value
    }

    func value(_ key: Key) -> Value? { newer[key] ?? older[key] }

    @discardableResult
    mutating func remove(_ key: Key) -> Value? {
        newer.removeValue(forKey: key) ?? older.removeValue(forKey: key)
    }
}
