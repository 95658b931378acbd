import Foundation
import WaymarkDomain
import WaymarkEventStore

/// Who a customer-facing notification is for, read from the log when it is delivered: the
/// customer record a merge left standing (its consent decides) and the name to greet. The name is
/// looked up here, never copied into a request, so a request holds nothing to erase.
public struct CustomerContact: Sendable {
    /// The surviving record's id: the consent subject.
    public var subjectId: String
    public var name: String?
    /// The surviving record's tier now.
    public var tier: String?

    /// Follows merges to the surviving record (a few hops at most; a cycle stops).
    public static func load(_ customerId: String, from store: some StreamReading, codec: EventCodec) async throws -> CustomerContact {
        var subject = customerId
        var seen: Set<String> = []
        while seen.insert(subject).inserted {
            let (record, _) = try await store.fold(CustomerDecider.streamName(subject), into: (name: String?.none, tier: String?.none, survivor: String?.none))
            { state, recorded in
                var state = state
                switch try CustomerEvent.decode(type: recorded.type, data: recorded.data, codec: codec) {
                case .registered(let registered):
                    state.name = registered.name.value
                    state.tier = registered.tier
                case .tierChanged(let changed): state.tier = changed.to
                case .mergedInto(let merged): state.survivor = merged.survivor
                default: break
                }
                return state
            }
            guard let survivor = record.survivor else { return CustomerContact(subjectId: subject, name: record.name, tier: record.tier) }
            subject = survivor
        }
        return CustomerContact(subjectId: subject, name: nil, tier: nil)
    }

    /// The subject's consent answers now.
    public func consents(from store: some StreamReading, codec: EventCodec) async throws -> ConsentState {
        try await store.fold(ConsentDecider.streamName(subjectId), into: ConsentState()) { state, recorded in
            guard let event = try ConsentEvent.decode(type: recorded.type, data: recorded.data, codec: codec) else { return state }
            return ConsentState.evolve(state, event, eventId: recorded.id)
        }.0
    }
}
