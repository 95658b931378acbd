import Foundation
import Synchronization
import WaymarkDomain
import WaymarkEventStore

/// Journey events decoded once for the projections of one process. The journeys and SLA
/// projections read the same events side by side (through the runner's shared log pages), and
/// decoding their JSON twice was a tenth of a build's CPU. Keeps the events decoded last, up to
/// two generations of `generation` events; an event decoded long ago is decoded again.
public final class DecodedJourneyEvents: Sendable {
    private struct Generations {
        var current: [UUID: DecodedJourneyEvent]
        var previous: [UUID: DecodedJourneyEvent] = [:]
    }

    let generation: Int
    private let state: Mutex<Generations>

    public init(generation: Int = 100_000) {
        self.generation = generation
        state = Mutex(Generations(current: Dictionary(minimumCapacity: generation)))
    }

    /// The journey event `recorded` holds, decoded or remembered; nil for a type the journey
    /// domain does not know.
    func decode(_ recorded: RecordedEvent) throws -> DecodedJourneyEvent? {
        let remembered = state.withLock { $0.current[recorded.id] ?? $0.previous[recorded.id] }
        if let remembered { return remembered }
        guard let event = try JourneyEvent.decode(type: recorded.type, data: recorded.data) else { return nil }
        let decoded = DecodedJourneyEvent(event)
        state.withLock { state in
            if state.current.count >= generation {
                state.previous = state.current
                state.current = Dictionary(minimumCapacity: generation)
            }
            state.current[recorded.id] = decoded
        }
        return decoded
    }
}

/// A decoded journey event, boxed: batches, tuples and the memo move a pointer, not the event's
/// strings one by one.
final class DecodedJourneyEvent: Sendable {
    let event: JourneyEvent
    init(_ event: JourneyEvent) { self.event = event }
}
