import Foundation
import Logging
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// Keeps the deadline table up to date with the log: a subscription's handler that folds each
/// batch's journey and customer events into the journeys' watches (`pm_watches`) and schedules,
/// reschedules and cancels their deadlines (`pm_deadlines`) in the batch's transaction; consent
/// events go to `consent` (`ConsentScheduler`).
///
/// A changed due time cancels the pending version and adds the next; a deadline whose event is
/// in the log is left out of a watch's deadlines, so a table rebuilt from the log fires nothing
/// again.
struct DeadlineScheduler: Sendable {
    let definitions: DefinitionLibrary
    let settings: ProcessManagerSettings
    let codec: EventCodec
    let timelines: [String: BusinessTimeline]
    let consent: ConsentScheduler
    /// Announced at the commit of a batch that scheduled or cancelled something.
    let channel: String
    let scheduled: ChangeSignal
    let logger: Logger

    private enum Input {
        /// A journey's event; nil for a type the domain does not know (an integration event
        /// appended raw), which moves only the stream's version.
        case journey(JourneyEvent?)
        case registered(tier: String)
        case tierChanged(to: String)
        case merged(survivor: String)
    }

    func handle(_ events: [RecordedEvent], in transaction: Transaction) async throws {
        let isConsent = { (event: RecordedEvent) in event.isIn(category: ConsentDecider.category) }
        let consentChanged = try await consent.handle(events.filter(isConsent), in: transaction)
        let journeysChanged = try await handleJourneys(events.filter { !isConsent($0) }, in: transaction)
        // Announced also when no deadline moved: a firing loop that found a journey ahead of its
        // watch waits for the watch to catch up.
        if consentChanged || journeysChanged {
            try await transaction.execute("SELECT pg_notify(\(channel), '')")
            transaction.afterCommit { [scheduled] in scheduled.bump() }
        }
    }

    /// Folds the journey and customer events; returns whether a watch changed.
    private func handleJourneys(_ events: [RecordedEvent], in transaction: Transaction) async throws -> Bool {
        var inputs: [(recorded: RecordedEvent, id: String, input: Input)] = []
        var journeyIds: Set<String> = []
        var customerIds: Set<String> = []
        var survivors: Set<String> = []
        var starts: [String] = []
        for recorded in events {
            guard let (id, input) = try decode(recorded) else { continue }
            switch input {
            case .journey(let event):
                journeyIds.insert(id)
                if case .some(.started(let started)) = event { starts.append(started.definitionVersion) }
            case .registered: break
            case .tierChanged: customerIds.insert(id)
            case .merged(let survivor):
                customerIds.insert(id)
                survivors.insert(survivor)
            }
            inputs.append((recorded, id, input))
        }
        guard !inputs.isEmpty else { return false }
        if starts.contains(where: { definitions.catalog.definition(version: $0) == nil }) { try await definitions.refresh(in: transaction) }
        let context = SLAClockFold.Context(catalog: definitions.catalog, timelines: timelines)

        let stored = try await WatchTable.load(journeyIds: Array(journeyIds), openOfCustomers: Array(customerIds), in: transaction)
        var watches = stored
        var tiers = try await WatchTable.tiers(of: Array(survivors), in: transaction)
        var changedTiers: [String: String] = [:]
        var touched: Set<String> = []
        for (recorded, id, input) in inputs {
            let at = recorded.occurredAt
            switch input {
            case .journey(let event):
                if var watch = watches[id] {
                    // A batch delivered again after a crash is folded from the stored watch, which
                    // already holds what that attempt committed.
                    guard recorded.streamVersion > watch.version else { continue }
                    if let event { watch.apply(event, at: at, context: context) }
                    watch.version = recorded.streamVersion
                    watches[id] = watch
                } else if case .some(.started(let started)) = event {
                    var watch = JourneyWatch(started, at: at, context: context)
                    watch.version = recorded.streamVersion
                    watches[id] = watch
                } else if event == nil {
                    // An integration event on a journey not started yet: nothing to watch.
                    continue
                } else {
                    throw ProcessManagerError(
                        .eventNotApplied, "event \(recorded.id) at \(recorded.position): journey \(id) has a \(recorded.type) before its JourneyStarted")
                }
                touched.insert(id)
            case .registered(let tier):
                tiers[id] = tier
                changedTiers[id] = tier
            case .tierChanged(let tier):
                tiers[id] = tier
                changedTiers[id] = tier
                for journeyId in openJourneys(of: id, in: watches) {
                    watches[journeyId]!.changeTier(to: tier, at: at, context: context)
                    touched.insert(journeyId)
                }
            case .merged(let survivor):
                for journeyId in openJourneys(of: id, in: watches) {
                    watches[journeyId]!.merge(into: survivor, tier: tiers[survivor], at: at, context: context)
                    touched.insert(journeyId)
                }
            }
        }
        let changed = touched.compactMap { watches[$0] }.filter { stored[$0.journeyId] != $0 }
        try await WatchTable.write(changed, in: transaction)
        try await WatchTable.writeTiers(changedTiers, in: transaction)
        try await reschedule(changed, context: context, in: transaction)
        return !changed.isEmpty
    }

    /// The journeys of `customerId` that are open, as the batch has them so far.
    private func openJourneys(of customerId: String, in watches: [String: JourneyWatch]) -> [String] {
        watches.values.filter { $0.customerId == customerId && $0.isOpen }.map(\.journeyId).sorted()
    }

    private func decode(_ recorded: RecordedEvent) throws -> (String, Input)? {
        do {
            if recorded.isIn(category: JourneyDecider.category) {
                let event = try JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: codec)
                return (String(recorded.streamName.dropFirst(JourneyDecider.category.count + 1)), .journey(event))
            }
            let id = String(recorded.streamName.dropFirst(CustomerDecider.category.count + 1))
            switch try CustomerEvent.decode(type: recorded.type, data: recorded.data, codec: codec) {
            case .registered(let registered): return (id, .registered(tier: registered.tier))
            case .tierChanged(let changed): return (id, .tierChanged(to: changed.to))
            case .mergedInto(let merged): return (id, .merged(survivor: merged.survivor))
            default: return nil
            }
        } catch let error as ProcessManagerError {
            throw error
        } catch {
            throw ProcessManagerError(.eventNotApplied, "event \(recorded.id) at \(recorded.position) (\(recorded.type)) does not decode: \(error)")
        }
    }

    /// Brings the pending deadlines of `watches` in line with what each watch wants now.
    private func reschedule(_ watches: [JourneyWatch], context: SLAClockFold.Context, in transaction: Transaction) async throws {
        guard !watches.isEmpty else { return }
        let latest = try await DeadlineTable.latest(Deadline.self, of: watches.map(\.journeyId), in: transaction)
        var changes = DeadlineChanges<Deadline>()
        for watch in watches {
            changes.reconcile(wanted: watch.deadlines(settings: settings, context: context), stored: latest[watch.journeyId] ?? [:])
        }
        try await DeadlineTable.cancel(changes.cancel, in: transaction)
        try await DeadlineTable.insert(changes.add, in: transaction)
    }
}
