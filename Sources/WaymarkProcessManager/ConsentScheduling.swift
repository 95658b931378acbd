import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The scheduler's part for consent: folds a batch's consent events into the subjects' watches
/// (`pm_consent_watches`) and brings their propagation deadlines (`pm_deadlines` rows with a
/// `subject_id`) in line, in the batch's transaction. No deadlines when `consent.yaml` configures
/// no `propagation`.
struct ConsentScheduler: Sendable {
    let purposes: [String: ConsentPurpose]
    let times: ConsentPropagationTimes?
    let codec: EventCodec

    /// Returns whether a watch changed.
    func handle(_ events: [RecordedEvent], in transaction: Transaction) async throws -> Bool {
        guard !events.isEmpty else { return false }
        let subjectIds = Set(events.map(Self.subjectId))
        let stored = try await ConsentWatchTable.load(Array(subjectIds), in: transaction)
        var watches = stored
        for recorded in events {
            let id = Self.subjectId(recorded)
            var watch = watches[id] ?? ConsentWatch(subjectId: id)
            // A batch delivered again after a crash is folded from the stored watch.
            guard recorded.streamVersion > watch.version else { continue }
            let event: ConsentEvent?
            do {
                event = try ConsentEvent.decode(type: recorded.type, data: recorded.data, codec: codec)
            } catch {
                throw ProcessManagerError(.eventNotApplied, "event \(recorded.id) at \(recorded.position) (\(recorded.type)) does not decode: \(error)")
            }
            // An integration event appended raw moves only the stream's version.
            if let event { watch.apply(event, eventId: recorded.id, at: recorded.occurredAt) }
            watch.version = recorded.streamVersion
            watches[id] = watch
        }
        let changed = watches.values.filter { stored[$0.subjectId] != $0 }.sorted { $0.subjectId < $1.subjectId }
        guard !changed.isEmpty else { return false }
        try await ConsentWatchTable.write(changed, in: transaction)
        try await reschedule(changed, in: transaction)
        return true
    }

    private static func subjectId(_ recorded: RecordedEvent) -> String { String(recorded.streamName.dropFirst(ConsentDecider.category.count + 1)) }

    /// Cancels the pending deadlines a watch no longer wants (applied, superseded) and adds or
    /// moves those it wants; a fired one stays fired.
    private func reschedule(_ watches: [ConsentWatch], in transaction: Transaction) async throws {
        let latest = try await DeadlineTable.latest(ConsentDeadline.self, of: watches.map(\.subjectId), in: transaction)
        var changes = DeadlineChanges<ConsentDeadline>()
        for watch in watches {
            changes.reconcile(
                wanted: times.map { watch.deadlines(purposes: purposes, times: $0) } ?? [], stored: latest[watch.subjectId] ?? [:])
        }
        try await DeadlineTable.cancel(changes.cancel, in: transaction)
        try await DeadlineTable.insert(changes.add, in: transaction)
    }
}

/// `pm_consent_watches`.
enum ConsentWatchTable {
    static func load(_ subjectIds: [String], in transaction: Transaction) async throws -> [String: ConsentWatch] {
        let rows = try await transaction.query(
            "SELECT watch::text FROM pm_consent_watches WHERE subject_id = ANY(\(PostgresArray(subjectIds))::text[])")
        var watches: [String: ConsentWatch] = [:]
        for row in rows {
            let watch = try StoredJSON.decode(ConsentWatch.self, try row.decode(String.self, at: 0))
            watches[watch.subjectId] = watch
        }
        return watches
    }

    static func write(_ watches: [ConsentWatch], in transaction: Transaction) async throws {
        try await transaction.execute(
            """
            INSERT INTO pm_consent_watches (subject_id, version, watch)
            SELECT * FROM unnest(\(PostgresArray(watches.map(\.subjectId)))::text[], \(PostgresArray(watches.map { String($0.version) }))::int8[],
                \(PostgresArray(try watches.map(StoredJSON.encode)))::jsonb[])
            ON CONFLICT (subject_id) DO UPDATE SET version = excluded.version, watch = excluded.watch
            """)
    }
}
