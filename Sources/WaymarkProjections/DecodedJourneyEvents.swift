import Foundation
import WaymarkDomain
import WaymarkEventStore

/// A decoded journey event, boxed: batches, tuples and the event's derived slot move a pointer,
/// not the event's strings one by one.
final class DecodedJourneyEvent: Sendable {
    let event: JourneyEvent
    init(_ event: JourneyEvent) { self.event = event }

    /// The journey event `recorded` holds; nil for a type the journey domain does not know. The
    /// journeys and SLA projections read the same events side by side from the runner's shared log
    /// pages, and decoding their JSON twice was a tenth of a build's CPU: the first to decode an
    /// event leaves the result on it (`RecordedEvent.derived`) for the other.
    /// Both read through the same `codec` (one per projection set), so the derived result is theirs.
    static func of(_ recorded: RecordedEvent, codec: EventCodec) throws -> DecodedJourneyEvent? {
        try recorded.derived { recorded in try JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: codec).map(DecodedJourneyEvent.init) }
    }
}
