import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The notification outbox as operators and analysts read it (`analytics.notifications`): one row
/// per notification, from its `NotificationRequested` (or its `NotificationSuppressed` at request,
/// when consent stopped it before a request) to its outcome: suppressed (with the reason and the
/// consent event that decided), delivered or failed (attempts, channel, endpoint, last status or
/// error), and the latency from request to outcome.
///
/// The events are on the journey's stream; each journey's type is kept from its `JourneyStarted`
/// in a small table of this projection, since a suppression at request does not carry it. Reads
/// the journey category only.
public struct NotificationsProjection: Projection {
    public let name = "notifications"
    public let version = 1
    public let source = SubscriptionSource.categories([JourneyDecider.category])
    /// How the log's events are read: where sealed personal fields are opened.
    public let codec: EventCodec

    public init(codec: EventCodec = .standard) { self.codec = codec }

    public func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await transaction.execute("CREATE TABLE \(tables.name("journeys")) (journey_id text PRIMARY KEY, journey_type text NOT NULL)")
        // Every column but the key may be missing: a notification's events fill their own columns,
        // whatever order they come in.
        try await transaction.execute(
            """
            CREATE TABLE \(tables.name("notifications")) (
                journey_id text NOT NULL,
                notification_id text NOT NULL,
                journey_type text,
                recipient_kind text,
                recipient text,
                template text,
                locale text,
                purpose text,
                contact_channel text,
                cause_kind text,
                cause_reference text,
                cause_event_id uuid,
                requested_at timestamptz,
                request_event_id uuid,
                outcome text,
                suppressed_reason text,
                suppressed_check text,
                consent_event_id uuid,
                suppressed_at timestamptz,
                delivered_at timestamptz,
                failed_at timestamptz,
                attempts integer,
                channel text,
                endpoint text,
                last_status integer,
                last_error text,
                outcome_event_id uuid,
                PRIMARY KEY (journey_id, notification_id)
            )
            """)
    }

    public func readerIndexes() -> [ReaderIndex] { [.init("notifications", "requested_at")] }

    public func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] {
        [
            (
                "notifications",
                """
                SELECT n.notification_id, n.journey_id, n.journey_type, n.recipient_kind, n.recipient, n.template, n.locale, n.purpose, n.contact_channel,
                    n.cause_kind, n.cause_reference, n.cause_event_id, n.requested_at, coalesce(n.outcome, 'requested') AS state, n.suppressed_reason,
                    n.suppressed_check, n.consent_event_id, n.suppressed_at, n.delivered_at, n.failed_at, n.attempts, n.channel, n.endpoint,
                    n.last_status, n.last_error, coalesce(n.delivered_at, n.failed_at) - n.requested_at AS latency, n.request_event_id,
                    n.outcome_event_id
                FROM \(tables.name("notifications")) n
                """
            )
        ]
    }

    /// What a batch's event of the journey category means here.
    enum Read {
        case started(journeyType: String)
        case notification(NotificationEvent)
        /// Another journey event: known, not used.
        case other
    }

    public func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        let batch = try DecodedBatch(events) { [codec] recorded -> Read? in
            if let notification = try NotificationEvent.decode(type: recorded.type, data: recorded.data, codec: codec) { return .notification(notification) }
            guard JourneyEvent.storedTypes.contains(recorded.type) else { return nil }
            // Only the start is decoded (shared with the journeys projection, which decodes it too).
            guard recorded.type == "JourneyStarted", case .started(let start)? = try DecodedJourneyEvent.of(recorded, codec: codec)?.event else {
                return .other
            }
            return .started(journeyType: start.journeyType)
        }
        var started: [(journeyId: String, journeyType: String)] = []
        var types: [String: String] = [:]
        var named = Set<NotificationRows.Key>()
        for (_, id, read) in batch.events {
            switch read {
            case .started(let journeyType):
                started.append((id, journeyType))
                types[id] = journeyType
            case .notification(let event):
                named.insert(NotificationRows.Key(journeyId: id, notificationId: event.notificationId))
            case .other:
                break
            }
        }
        guard !started.isEmpty || !named.isEmpty else { return batch.ignored }
        // Only a journey that began before the batch can have stored rows or a stored type.
        let before = Set(
            batch.idsStoredBefore { read in
                if case .notification = read { return true }
                return false
            })
        var rows = NotificationRows(stored: try await NotificationRows.load(named.filter { before.contains($0.journeyId) }, tables, in: transaction))
        // A request names its journey's type; a row begun by another event takes it from the start.
        var untyped = Set<String>()
        var requested = Set<NotificationRows.Key>()
        for case (_, let id, .notification(let event)) in batch.events where before.contains(id) && types[id] == nil {
            let key = NotificationRows.Key(journeyId: id, notificationId: event.notificationId)
            if case .requested = event {
                requested.insert(key)
            } else if !requested.contains(key) && rows.lacksJourneyType(key) {
                untyped.insert(id)
            }
        }
        for (id, type) in try await Self.journeyTypes(untyped.sorted(), tables, in: transaction) { types[id] = type }
        for case (let recorded, let journeyId, .notification(let event)) in batch.events {
            rows.apply(event, eventId: recorded.id, journeyId: journeyId, journeyType: types[journeyId])
        }
        var journeyRows = CopyBinary()
        for (id, type) in started {
            journeyRows.append(id)
            journeyRows.append(type)
            journeyRows.endRow()
        }
        // A JourneyStarted is its stream's first event: its row is new.
        try await StagedUpsert(tables: tables, table: "journeys", columns: ["journey_id", "journey_type"], key: ["journey_id"]).insert(
            journeyRows, in: transaction)
        try await rows.write(tables, in: transaction)
        return batch.ignored
    }

    private static func journeyTypes(_ ids: [String], _ tables: ProjectionTables, in transaction: Transaction) async throws -> [(String, String)] {
        guard !ids.isEmpty else { return [] }
        let rows = try await transaction.query(
            "SELECT journey_id, journey_type FROM \(tables.name("journeys")) WHERE journey_id = ANY(\(PostgresArray(ids))::text[])")
        return try rows.map { try $0.decode(String.self, String.self) }
    }
}
