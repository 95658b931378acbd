import WaymarkEventStore

/// A batch's events of the domain type a projection reads, each with the id its stream name
/// carries after `<category>-`; events of other types, or of other categories, are only counted.
///
/// A projection's `apply` usually starts here: decode once, return `ignored` as the count of
/// events it does not know, and group the rest by stream id.
public struct DecodedBatch<Event> {
    /// The decoded events in log order, each with its recorded event and its stream's id.
    public private(set) var events: [(recorded: RecordedEvent, id: String, event: Event)] = []
    /// How many events `decode` did not know (it returned nil).
    public private(set) var ignored = 0

    /// Decodes `recorded` with `decode`, which returns nil for a type it does not know. (Only the
    /// projection's own categories arrive: its `source` says which.) Data that does not decode as
    /// its type is a `ProjectionError` naming the event.
    public init(_ recorded: [RecordedEvent], _ decode: (RecordedEvent) throws -> Event?) throws {
        events.reserveCapacity(recorded.count)
        for event in recorded {
            let decoded: Event?
            do {
                decoded = try decode(event)
            } catch {
                throw ProjectionError(event, "its data does not decode as a \(event.type): \(error)")
            }
            guard let decoded else {
                ignored += 1
                continue
            }
            let name = event.streamName
            let id = name.utf8.firstIndex(of: UInt8(ascii: "-")).map { String(name[name.utf8.index(after: $0)...]) } ?? ""
            events.append((event, id, decoded))
        }
    }

    /// The distinct stream ids of the events `include` selects, less those whose stream begins in
    /// the batch (its version 1 is here): nothing of those can be stored yet, so a projection
    /// need not look them up. In a build most journeys of a batch begin in it.
    public func idsStoredBefore(_ include: (Event) -> Bool = { _ in true }) -> [String] {
        var streams = StreamSlots()
        for (recorded, id, event) in events where include(event) { _ = streams.slot(id, of: recorded) }
        return streams.storedBefore
    }
}

/// The streams (journeys) a batch touches, each at a slot: found once per event by its id, then
/// reached by position, not by hashing the id again and again. A projection keeps its per-stream
/// state in arrays indexed by slot, and writes rows for streams that `beginsHere` as new
/// (`StagedUpsert.write(_:isNew:in:row:)`).
public struct StreamSlots: Sendable {
    /// The stream ids, by slot.
    public private(set) var ids: [String] = []
    /// Whether the stream's version 1 is in the batch: nothing of it can be stored yet.
    public private(set) var beginsHere: [Bool] = []
    private var slotOf: [String: Int] = [:]

    public init() {}

    public var count: Int { ids.count }

    /// The slot of stream `id`, a new one the first time.
    public mutating func slot(_ id: String) -> Int {
        if let known = slotOf[id] { return known }
        slotOf[id] = ids.count
        ids.append(id)
        beginsHere.append(false)
        return ids.count - 1
    }

    /// The slot of `event`'s stream `id`, noting whether the stream begins in the batch.
    public mutating func slot(_ id: String, of event: RecordedEvent) -> Int {
        let slot = slot(id)
        if event.streamVersion == 1 { beginsHere[slot] = true }
        return slot
    }

    /// The streams that may have stored rows: those that began before the batch.
    public var storedBefore: [String] { ids.indices.filter { !beginsHere[$0] }.map { ids[$0] } }
}
