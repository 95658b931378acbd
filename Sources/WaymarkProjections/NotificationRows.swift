import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The rows of `notifications` a batch of the notifications projection touches: those its events
/// create and the stored ones they name, each written once at the end of the batch.
///
/// Each event fills only its own columns, so the rows do not depend on the order a notification's
/// events come in: the request's columns come from its `NotificationRequested` (the first one, should
/// the log hold two), else from a suppression at request, which carries what was requested; the
/// outcome's from the first outcome in the log (by design there is only one: its event id derives
/// from the notification).
struct NotificationRows {
    struct Row {
        var journeyId: String
        var notificationId: String
        var journeyType: String?
        var recipientKind: String?
        var recipient: String?
        var template: String?
        var locale: String?
        var purpose: String?
        var contactChannel: String?
        var causeKind: String?
        var causeReference: String?
        var causeEventId: UUID?
        var requestedAt: Date?
        var requestEventId: UUID?
        /// `suppressed`, `delivered` or `failed`; nil while requested.
        var outcome: String?
        var suppressedReason: String?
        var suppressedCheck: String?
        var consentEventId: UUID?
        var suppressedAt: Date?
        var deliveredAt: Date?
        var failedAt: Date?
        var attempts: Int?
        var channel: String?
        var endpoint: String?
        var lastStatus: Int?
        var lastError: String?
        var outcomeEventId: UUID?
        /// First seen in this batch and not stored: written with COPY, not through the staged upsert.
        var isNew = false

        static let columns = [
            "journey_id", "notification_id", "journey_type", "recipient_kind", "recipient", "template", "locale", "purpose", "contact_channel",
            "cause_kind", "cause_reference", "cause_event_id", "requested_at", "request_event_id", "outcome", "suppressed_reason", "suppressed_check",
            "consent_event_id", "suppressed_at", "delivered_at", "failed_at", "attempts", "channel", "endpoint", "last_status", "last_error",
            "outcome_event_id",
        ]

        func write(into out: inout CopyBinary) {
            for text in [
                journeyId, notificationId, journeyType, recipientKind, recipient, template, locale, purpose, contactChannel, causeKind, causeReference,
            ] {
                out.append(text)
            }
            out.append(causeEventId)
            out.append(requestedAt)
            out.append(requestEventId)
            for text in [outcome, suppressedReason, suppressedCheck] { out.append(text) }
            out.append(consentEventId)
            for date in [suppressedAt, deliveredAt, failedAt] { out.append(date) }
            out.append(integer: attempts)
            for text in [channel, endpoint] { out.append(text) }
            out.append(integer: lastStatus)
            out.append(lastError)
            out.append(outcomeEventId)
            out.endRow()
        }

        mutating func request(_ requested: NotificationEvent.Requested, eventId: UUID) {
            guard requestEventId == nil else { return }
            recipientKind = requested.recipient.kind.rawValue
            recipient = requested.recipient.id
            template = requested.template
            locale = requested.locale
            purpose = requested.purpose
            contactChannel = requested.contactChannel
            cause(requested.cause)
            requestedAt = requested.requestedAt
            journeyType = requested.journey.journeyType
            requestEventId = eventId
        }

        mutating func suppress(_ suppressed: NotificationEvent.Suppressed, eventId: UUID) {
            // Suppressed at request, nothing was requested: the suppression says what would have been.
            if requestEventId == nil && suppressed.check == .atRequest {
                recipientKind = recipientKind ?? NotificationRecipient.Kind.customer.rawValue
                recipient = recipient ?? suppressed.subjectId
                template = template ?? suppressed.template
                if let cause = suppressed.cause, causeEventId == nil { self.cause(cause) }
                requestedAt = requestedAt ?? suppressed.decidedAt
            }
            purpose = purpose ?? suppressed.purpose
            contactChannel = contactChannel ?? suppressed.contactChannel
            guard outcome == nil else { return }
            outcome = "suppressed"
            suppressedReason = suppressed.reason.rawValue
            suppressedCheck = suppressed.check.rawValue
            consentEventId = suppressed.consentEventId
            suppressedAt = suppressed.decidedAt
            outcomeEventId = eventId
        }

        mutating func deliver(_ delivered: NotificationEvent.Delivered, eventId: UUID) {
            guard outcome == nil else { return }
            outcome = "delivered"
            deliveredAt = delivered.deliveredAt
            attempts = delivered.attempts
            channel = delivered.channel
            endpoint = delivered.endpoint
            lastStatus = delivered.status
            outcomeEventId = eventId
        }

        mutating func fail(_ failed: NotificationEvent.Failed, eventId: UUID) {
            guard outcome == nil else { return }
            outcome = "failed"
            failedAt = failed.failedAt
            attempts = failed.attempts
            channel = failed.channel
            endpoint = failed.endpoint
            lastStatus = failed.lastStatus
            lastError = failed.lastError
            outcomeEventId = eventId
        }

        private mutating func cause(_ cause: NotificationEvent.Cause) {
            causeKind = cause.kind
            causeReference = cause.reference
            causeEventId = cause.eventId
        }
    }

    struct Key: Hashable {
        var journeyId: String
        var notificationId: String
    }

    private var rows: [Row] = []
    private var slotOf: [Key: Int] = [:]
    private var touched = Set<Int>()

    init(stored: [Row]) {
        for row in stored {
            slotOf[Key(journeyId: row.journeyId, notificationId: row.notificationId)] = rows.count
            rows.append(row)
        }
    }

    /// Whether the row of `key` is not stored yet or stored without its journey's type.
    func lacksJourneyType(_ key: Key) -> Bool { slotOf[key].map { rows[$0].journeyType == nil } ?? true }

    /// Applies `event` (recorded as `eventId` on journey `journeyId`'s stream); `journeyType` is
    /// the journey's type, for a row no request names it in.
    mutating func apply(_ event: NotificationEvent, eventId: UUID, journeyId: String, journeyType: String?) {
        let key = Key(journeyId: journeyId, notificationId: event.notificationId)
        let slot: Int
        if let known = slotOf[key] {
            slot = known
        } else {
            slot = rows.count
            slotOf[key] = slot
            rows.append(Row(journeyId: journeyId, notificationId: event.notificationId, isNew: true))
        }
        touched.insert(slot)
        switch event {
        case .requested(let requested): rows[slot].request(requested, eventId: eventId)
        case .suppressed(let suppressed): rows[slot].suppress(suppressed, eventId: eventId)
        case .delivered(let delivered): rows[slot].deliver(delivered, eventId: eventId)
        case .failed(let failed): rows[slot].fail(failed, eventId: eventId)
        }
        if rows[slot].journeyType == nil { rows[slot].journeyType = journeyType }
    }

    func write(_ tables: ProjectionTables, in transaction: Transaction) async throws {
        try await StagedUpsert(tables: tables, table: "notifications", columns: Row.columns, key: ["journey_id", "notification_id"])
            .write(touched.sorted().map { rows[$0] }, isNew: \.isNew, in: transaction) { row, out in row.write(into: &out) }
    }

    /// The stored rows of `keys`.
    static func load(_ keys: Set<Key>, _ tables: ProjectionTables, in transaction: Transaction) async throws -> [Row] {
        guard !keys.isEmpty else { return [] }
        let sorted = keys.sorted { ($0.journeyId, $0.notificationId) < ($1.journeyId, $1.notificationId) }
        let found = try await transaction.query(
            """
            SELECT \(PostgresQuery(sql: Row.columns.joined(separator: ", "))) FROM \(tables.name("notifications"))
            WHERE (journey_id, notification_id) IN (
                SELECT * FROM unnest(\(PostgresArray(sorted.map(\.journeyId)))::text[], \(PostgresArray(sorted.map(\.notificationId)))::text[]))
            """)
        return try found.map { row in
            Row(
                journeyId: try row.decode(String.self, at: 0), notificationId: try row.decode(String.self, at: 1),
                journeyType: try row.decode(String?.self, at: 2), recipientKind: try row.decode(String?.self, at: 3),
                recipient: try row.decode(String?.self, at: 4), template: try row.decode(String?.self, at: 5), locale: try row.decode(String?.self, at: 6),
                purpose: try row.decode(String?.self, at: 7), contactChannel: try row.decode(String?.self, at: 8),
                causeKind: try row.decode(String?.self, at: 9), causeReference: try row.decode(String?.self, at: 10),
                causeEventId: try row.decode(UUID?.self, at: 11), requestedAt: try row.decode(Date?.self, at: 12),
                requestEventId: try row.decode(UUID?.self, at: 13), outcome: try row.decode(String?.self, at: 14),
                suppressedReason: try row.decode(String?.self, at: 15), suppressedCheck: try row.decode(String?.self, at: 16),
                consentEventId: try row.decode(UUID?.self, at: 17), suppressedAt: try row.decode(Date?.self, at: 18),
                deliveredAt: try row.decode(Date?.self, at: 19), failedAt: try row.decode(Date?.self, at: 20), attempts: try row.decode(Int?.self, at: 21),
                channel: try row.decode(String?.self, at: 22), endpoint: try row.decode(String?.self, at: 23),
                lastStatus: try row.decode(Int?.self, at: 24), lastError: try row.decode(String?.self, at: 25),
                outcomeEventId: try row.decode(UUID?.self, at: 26))
        }
    }
}
