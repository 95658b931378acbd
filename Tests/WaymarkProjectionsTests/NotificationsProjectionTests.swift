import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkTesting

/// `analytics.notifications`. The outbox events are appended as their writers append them
/// (`store.append`, with the ids the domain derives: the client refuses the domain's own types), at
/// chosen times: a role's request beside the escalation that caused it, a customer's request beside
/// a rule's decision, the outcomes as a delivery worker records them. Consent decisions are real.
@Suite("Notifications projection")
struct NotificationsProjectionTests {
    /// Every column of the view, in order; times as whole seconds since 1970, latency in seconds.
    static let columns: [(name: String, select: String)] = [
        ("notification_id", "notification_id"), ("journey_id", "journey_id"), ("journey_type", "journey_type"),
        ("recipient_kind", "recipient_kind"), ("recipient", "recipient"), ("template", "template"), ("locale", "locale"), ("purpose", "purpose"),
        ("contact_channel", "contact_channel"), ("cause_kind", "cause_kind"), ("cause_reference", "cause_reference"),
        ("cause_event_id", "cause_event_id::text"), ("requested_at", "extract(epoch FROM requested_at)::bigint::text"), ("state", "state"),
        ("suppressed_reason", "suppressed_reason"), ("suppressed_check", "suppressed_check"), ("consent_event_id", "consent_event_id::text"),
        ("suppressed_at", "extract(epoch FROM suppressed_at)::bigint::text"), ("delivered_at", "extract(epoch FROM delivered_at)::bigint::text"),
        ("failed_at", "extract(epoch FROM failed_at)::bigint::text"), ("attempts", "attempts::text"), ("channel", "channel"), ("endpoint", "endpoint"),
        ("last_status", "last_status::text"), ("last_error", "last_error"), ("latency", "extract(epoch FROM latency)::int::text"),
        ("request_event_id", "request_event_id::text"), ("outcome_event_id", "outcome_event_id::text"),
    ]

    /// The view's rows as `waymark_analyst` reads them, by notification id.
    static func rows(_ fixture: Fixture) async throws -> [[String?]] {
        try await asAnalyst(fixture, "SELECT \(columns.map(\.select).joined(separator: ", ")) FROM analytics.notifications ORDER BY notification_id")
    }

    /// Runs `sql` as `waymark_analyst`, `analytics.` meaning the fixture's analytics schema.
    static func asAnalyst(_ fixture: Fixture, _ sql: String) async throws -> [[String?]] {
        let url = try TestDatabase.url().replacingOccurrences(of: "://waymark@", with: "://waymark_analyst@")
        let analyst = try await PostgresConnection.connect(PostgresConfiguration(url: url))
        defer { Task { await analyst.close() } }
        let found = try await analyst.query(
            PostgresQuery(sql: sql.replacingOccurrences(of: "analytics.", with: PostgresIdentifier.quote(fixture.analytics) + ".")))
        return try found.map { row in try (0..<row.columnCount).map { try row.decode(String?.self, at: $0) } }
    }

    static func time(_ hours: Double) -> Date { t0.addingTimeInterval(hours * 3_600) }
    /// Seconds since 1970 of `hours` after t0, as `rows` gives times.
    static func epoch(_ hours: Double) -> String { String(Int(time(hours).timeIntervalSince1970)) }
    static func text(_ id: UUID?) -> String? { id?.uuidString.lowercased() }

    /// Appends `events` to journey `journeyId`'s stream in one append at `hours`, each notification
    /// event with the id its writer derives; other events with `ids` in order.
    static func append(_ fixture: Fixture, _ journeyId: String, _ events: [NotificationEvent], before other: [(UUID, JourneyEvent)] = [], hours: Double)
        async throws
    {
        let metadata = EventMetadata(occurredAt: time(hours))
        var data = try other.map { id, event in EventData(id: id, type: event.type, data: try event.encode(with: .standard, subject: nil), metadata: metadata) }
        for event in events {
            let id: UUID
            switch event {
            case .requested: id = NotificationEvent.requestEventId(notificationId: event.notificationId)
            case .suppressed(let suppressed) where suppressed.check == .atRequest: id = NotificationEvent.requestEventId(notificationId: event.notificationId)
            default: id = NotificationEvent.outcomeEventId(notificationId: event.notificationId)
            }
            data.append(EventData(id: id, type: event.type, data: try event.encode(with: .standard, subject: nil), metadata: metadata))
        }
        _ = try await fixture.store.append(to: JourneyDecider.streamName(journeyId), events: data)
    }

    /// What the process manager appends when an escalation with action notify fires at `hours`:
    /// the escalation and its role's request, in one append. Returns the request.
    static func escalate(_ fixture: Fixture, _ journeyId: String, role: String, hours: Double) async throws -> NotificationEvent.Requested {
        let decidedAt = time(hours)
        let id = "\(journeyId)/escalation/first-response/1/1"
        let audit = DecisionAudit(
            rule: .escalationLevel, deadlineId: id, goal: "first-response", level: 1, definitionVersion: "v-test", stage: "triage", department: "service",
            tier: "strategic", since: t0, dueAt: decidedAt, decidedAt: decidedAt, stale: false, instance: "pm-test")
        let raised = JourneyEvent.EscalationRaised(
            escalationId: id, reason: .slaLadder, goal: "first-response", level: 1, role: role, action: .notify, queueOwner: nil, audit: audit)
        let eventId = UUID()
        let journey = NotificationEvent.JourneyContext(
            journeyId: journeyId, journeyType: "support-case", definitionVersion: "v-test", stage: "triage", department: "service", tier: "strategic")
        let request = try #require(raised.notificationRequest(eventId: eventId, journey: journey, locale: "en"))
        try await append(fixture, journeyId, [.requested(request)], before: [(eventId, .escalationRaised(raised))], hours: hours)
        return request
    }

    /// A customer-facing request a rule decided at `hours` (its decision's event id is the cause).
    static func customerRequest(
        _ journeyId: String, customer: String, template: String, purpose: String = "service-updates", locale: String = "en", rule: String, hours: Double
    ) -> NotificationEvent.Requested {
        let cause = NotificationEvent.Cause(eventId: UUID(), kind: "rule", reference: rule)
        let recipient = NotificationRecipient.customer(customer)
        return NotificationEvent.Requested(
            notificationId: NotificationEvent.notificationId(cause: cause.eventId, recipient: recipient, template: template), recipient: recipient,
            template: template, locale: locale, purpose: purpose, contactChannel: "email", variables: ["order_id": .text("SO-1")], cause: cause,
            journey: NotificationEvent.JourneyContext(
                journeyId: journeyId, journeyType: "support-case", definitionVersion: "v-test", stage: "triage", department: "service", tier: "strategic"),
            requestedAt: time(hours))
    }

    static func serviceEmail() -> ConsentRecord {
        ConsentRecord(
            scope: ConsentScope(purpose: "service-updates", channel: "email"), legalBasis: .consent, noticeVersion: "privacy-2026.1",
            collectionPoint: "signup-form", proofReference: "form-1")
    }

    /// In batches of one event every row is read back from the stored table before each event.
    @Test(
        "requested then delivered after 3 attempts, requested then failed (and the operators told), suppressed at request, suppressed at delivery after a withdrawal, one still requested; the analyst reads every column; a rebuild gives the same rows",
        arguments: [200, 1])
    func outbox(batchSize: Int) async throws {
        let fixture = try await Fixture(batchSize: batchSize) { [NotificationsProjection(), ConsentProjection(catalog: $0)] }
        defer { Task { await fixture.store.close() } }
        let client = fixture.client
        let consents = ConsentRegistry(client: client)
        for (journey, customer) in [("n-1", "c-1"), ("n-2", "c-2")] {
            try await client.send(
                .start(.init(journeyId: journey, customerId: customer, journeyType: "support-case", tier: "strategic")), to: journey, context: at(0))
        }
        let granted = try await consents.record(.give(Self.serviceEmail()), subject: "c-1", context: at(0.5))
        let refused = try await consents.record(.refuse(Self.serviceEmail()), subject: "c-2", context: at(0.5))

        // n-1: an escalation's role notification, delivered on the third attempt 90 s later.
        let escalation = try await Self.escalate(fixture, "n-1", role: "support-manager", hours: 1)
        let escalationDelivered = NotificationEvent.Delivered(
            notificationId: escalation.notificationId, attempts: 3, channel: "webhook", endpoint: "service-desk", status: 204,
            deliveredAt: Self.time(1 + 90.0 / 3_600))
        try await Self.append(fixture, "n-1", [.delivered(escalationDelivered)], hours: 1 + 90.0 / 3_600)

        // n-1: a rule's apology to the customer fails after 5 attempts; the failure asks the operators, by log.
        let apology = Self.customerRequest(
            "n-1", customer: "c-1", template: "shipment-delay-apology", locale: "de", rule: "shipment-delay-recovery@3", hours: 2)
        try await Self.append(fixture, "n-1", [.requested(apology)], hours: 2)
        let apologyFailed = NotificationEvent.Failed(
            notificationId: apology.notificationId, attempts: 5, channel: "webhook", endpoint: "customer-messaging", lastStatus: 500, lastError: "HTTP 500",
            failedAt: Self.time(2.25))
        // As the delivery worker words it (beside an escalation to the operators' role, left out here).
        let operatorsCause = NotificationEvent.Cause(
            eventId: DerivedUUID.of(Data("notification-failure-escalation:\(apology.notificationId)".utf8)), kind: "delivery_failure",
            reference: "notification-failed/\(apology.notificationId)")
        let operators = NotificationEvent.Requested(
            notificationId: NotificationEvent.notificationId(
                cause: operatorsCause.eventId, recipient: .role("operations-manager"), template: "notification-delivery-failed"),
            recipient: .role("operations-manager"), template: "notification-delivery-failed", locale: apology.locale, variables: ["attempts": .text("5")],
            cause: operatorsCause, journey: apology.journey, requestedAt: Self.time(2.25))
        try await Self.append(fixture, "n-1", [.failed(apologyFailed), .requested(operators)], hours: 2.25)
        let operatorsDelivered = NotificationEvent.Delivered(
            notificationId: operators.notificationId, attempts: 1, channel: "log", endpoint: nil, status: nil, deliveredAt: Self.time(2.25))
        try await Self.append(fixture, "n-1", [.delivered(operatorsDelivered)], hours: 2.25)

        // n-1: a survey requested while consent held, withdrawn before delivery: suppressed at delivery.
        let survey = Self.customerRequest("n-1", customer: "c-1", template: "csat-survey-invitation", rule: "csat-after-support@1", hours: 3)
        try await Self.append(fixture, "n-1", [.requested(survey)], hours: 3)
        let withdrawn = try await consents.record(
            .withdraw(ConsentScope(purpose: "service-updates", channel: "email"), proofReference: "unsubscribe-link"), subject: "c-1", context: at(3.5))
        let surveySuppressed = NotificationEvent.Suppressed(
            notificationId: survey.notificationId, reason: .withdrawn, check: .atDelivery, consentEventId: withdrawn.decisionId, subjectId: "c-1",
            purpose: "service-updates", contactChannel: "email", decidedAt: Self.time(3.75))
        try await Self.append(fixture, "n-1", [.suppressed(surveySuppressed)], hours: 3.75)

        // n-2: the customer refused: suppressed at request, nothing requested. Its escalation is still requested.
        let refusedApology = Self.customerRequest("n-2", customer: "c-2", template: "shipment-delay-apology", rule: "shipment-delay-recovery@3", hours: 4)
        let refusedAtRequest = NotificationEvent.Suppressed(
            notificationId: refusedApology.notificationId, reason: .refused, check: .atRequest, consentEventId: refused.decisionId, subjectId: "c-2",
            purpose: "service-updates", contactChannel: "email", template: "shipment-delay-apology", cause: refusedApology.cause, decidedAt: Self.time(4))
        try await Self.append(fixture, "n-2", [.suppressed(refusedAtRequest)], hours: 4)
        let pending = try await Self.escalate(fixture, "n-2", role: "service-escalations", hours: 5)
        #expect(try await fixture.runUntilCaughtUp("notifications", "consent"))

        let request = { (id: String) in Self.text(NotificationEvent.requestEventId(notificationId: id)) }
        let outcome = { (id: String) in Self.text(NotificationEvent.outcomeEventId(notificationId: id)) }
        let escalationRow: [String?] = [
            escalation.notificationId, "n-1", "support-case", "role", "support-manager", "escalation-raised", "en", nil, nil, "escalation",
            "n-1/escalation/first-response/1/1", Self.text(escalation.cause.eventId), Self.epoch(1), "delivered", nil, nil, nil, nil,
            Self.epoch(1 + 90.0 / 3_600), nil, "3", "webhook", "service-desk", "204", nil, "90", request(escalation.notificationId),
            outcome(escalation.notificationId),
        ]
        let apologyRow: [String?] = [
            apology.notificationId, "n-1", "support-case", "customer", "c-1", "shipment-delay-apology", "de", "service-updates", "email", "rule",
            "shipment-delay-recovery@3", Self.text(apology.cause.eventId), Self.epoch(2), "failed", nil, nil, nil, nil, nil, Self.epoch(2.25), "5",
            "webhook", "customer-messaging", "500", "HTTP 500", "900", request(apology.notificationId), outcome(apology.notificationId),
        ]
        let operatorsRow: [String?] = [
            operators.notificationId, "n-1", "support-case", "role", "operations-manager", "notification-delivery-failed", "de", nil, nil,
            "delivery_failure", "notification-failed/\(apology.notificationId)", Self.text(operatorsCause.eventId), Self.epoch(2.25), "delivered", nil, nil,
            nil, nil,
            Self.epoch(2.25), nil, "1", "log", nil, nil, nil, "0", request(operators.notificationId), outcome(operators.notificationId),
        ]
        let surveyRow: [String?] = [
            survey.notificationId, "n-1", "support-case", "customer", "c-1", "csat-survey-invitation", "en", "service-updates", "email", "rule",
            "csat-after-support@1", Self.text(survey.cause.eventId), Self.epoch(3), "suppressed", "withdrawn", "at_delivery", Self.text(withdrawn.decisionId),
            Self.epoch(3.75), nil, nil, nil, nil, nil, nil, nil, nil, request(survey.notificationId), outcome(survey.notificationId),
        ]
        // Nothing was requested: the suppression's own id (derived as a request's) is its outcome; the locale was never chosen.
        let refusedRow: [String?] = [
            refusedApology.notificationId, "n-2", "support-case", "customer", "c-2", "shipment-delay-apology", nil, "service-updates", "email", "rule",
            "shipment-delay-recovery@3", Self.text(refusedApology.cause.eventId), Self.epoch(4), "suppressed", "refused", "at_request",
            Self.text(refused.decisionId), Self.epoch(4), nil, nil, nil, nil, nil, nil, nil, nil, nil, request(refusedApology.notificationId),
        ]
        let pendingRow: [String?] = [
            pending.notificationId, "n-2", "support-case", "role", "service-escalations", "escalation-raised", "en", nil, nil, "escalation",
            "n-2/escalation/first-response/1/1", Self.text(pending.cause.eventId), Self.epoch(5), "requested", nil, nil, nil, nil, nil, nil, nil, nil,
            nil, nil, nil, nil, request(pending.notificationId), nil,
        ]
        let expected = [escalationRow, apologyRow, operatorsRow, surveyRow, refusedRow, pendingRow].sorted { $0[0]! < $1[0]! }
        let rows = try await Self.rows(fixture)
        #expect(rows == expected)
        #expect(granted.decisionId != nil)

        // Every column of the view is one checked above, in that order.
        let names = try await fixture.store.query(
            """
            SELECT column_name FROM information_schema.columns WHERE table_schema = \(fixture.analytics) AND table_name = 'notifications'
            ORDER BY ordinal_position
            """
        ).map { try $0.decode(String.self, at: 0) }
        #expect(names == Self.columns.map(\.name))

        // The README's queries: latency per template and state, and why customer messages were not sent.
        let latencies = try await Self.asAnalyst(
            fixture,
            """
            SELECT template, state, count(*)::text, extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY latency))::int::text AS p50,
                   extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY latency))::int::text AS p99, round(avg(attempts), 1)::text AS mean_attempts
            FROM analytics.notifications GROUP BY 1, 2 ORDER BY 1, 2
            """)
        #expect(
            latencies == [
                ["csat-survey-invitation", "suppressed", "1", nil, nil, nil], ["escalation-raised", "delivered", "1", "90", "90", "3.0"],
                ["escalation-raised", "requested", "1", nil, nil, nil], ["notification-delivery-failed", "delivered", "1", "0", "0", "1.0"],
                ["shipment-delay-apology", "failed", "1", "900", "900", "5.0"], ["shipment-delay-apology", "suppressed", "1", nil, nil, nil],
            ])
        let why = try await Self.asAnalyst(
            fixture,
            """
            SELECT n.journey_id, n.template, n.suppressed_check, n.suppressed_reason, h.status, h.proof_reference
            FROM analytics.notifications n LEFT JOIN analytics.consent_history h ON h.proof_event_id = n.consent_event_id
            WHERE n.state = 'suppressed' ORDER BY n.suppressed_at DESC
            """)
        #expect(
            why == [
                ["n-2", "shipment-delay-apology", "at_request", "refused", "refused", "form-1"],
                ["n-1", "csat-survey-invitation", "at_delivery", "withdrawn", "withdrawn", "unsubscribe-link"],
            ])

        // Rebuilt from the log: the same rows.
        try await withServices([fixture.runner]) {
            let build = try await fixture.runner.requestRebuild("notifications")
            try await eventually("build \(build) of notifications to go live") {
                try await fixture.runner.status().contains { $0.record.name == "notifications" && $0.record.build == build && $0.record.state == .live }
            }
        }
        #expect(try await Self.rows(fixture) == rows)
    }

    /// Odd logs: events of one notification out of their usual order (together in one batch, or
    /// apart), and two outcomes for one notification. The rows do not depend on where the batches
    /// cut, and the first outcome in the log stands.
    @Test(
        "an outcome before its request, a request after a suppression at request, and a second outcome: the same rows however the batches cut",
        arguments: [200, 1])
    func outOfOrder(batchSize: Int) async throws {
        let fixture = try await Fixture(batchSize: batchSize) { _ in [NotificationsProjection()] }
        defer { Task { await fixture.store.close() } }
        try await fixture.client.send(
            .start(.init(journeyId: "o-1", customerId: "c-1", journeyType: "support-case", tier: "strategic")), to: "o-1", context: at(0))
        let late = Self.customerRequest("o-1", customer: "c-1", template: "shipment-delay-apology", rule: "shipment-delay-recovery@3", hours: 1)
        let delivered = NotificationEvent.Delivered(
            notificationId: late.notificationId, attempts: 2, channel: "webhook", endpoint: "customer-messaging", status: 202, deliveredAt: Self.time(1.5))
        let failed = NotificationEvent.Failed(
            notificationId: late.notificationId, attempts: 4, channel: "webhook", endpoint: "customer-messaging", lastStatus: nil, lastError: "timeout",
            failedAt: Self.time(2))
        // The delivery comes first in the log; a failure (another id: odd data) after the request.
        try await Self.append(fixture, "o-1", [.delivered(delivered), .requested(late)], hours: 1.5)
        _ = try await fixture.store.append(
            to: JourneyDecider.streamName("o-1"),
            events: [EventData(type: "NotificationFailed", data: try NotificationEvent.failed(failed).encode(with: .standard, subject: nil))])

        // Suppressed at request, then (odd) requested after all: the request's columns come from the request.
        let twice = Self.customerRequest("o-1", customer: "c-1", template: "csat-survey-invitation", locale: "de", rule: "csat-after-support@1", hours: 3)
        let suppressed = NotificationEvent.Suppressed(
            notificationId: twice.notificationId, reason: .noConsent, check: .atRequest, consentEventId: nil, subjectId: "c-1", purpose: "service-updates",
            contactChannel: "email", template: "csat-survey-invitation", cause: twice.cause, decidedAt: Self.time(2.5))
        try await Self.append(fixture, "o-1", [.suppressed(suppressed)], hours: 2.5)
        _ = try await fixture.store.append(
            to: JourneyDecider.streamName("o-1"),
            events: [EventData(type: "NotificationRequested", data: try NotificationEvent.requested(twice).encode(with: .standard, subject: nil))])
        #expect(try await fixture.runUntilCaughtUp("notifications"))

        let rows = try await Self.rows(fixture)
        let lateRow: [String?] = [
            late.notificationId, "o-1", "support-case", "customer", "c-1", "shipment-delay-apology", "en", "service-updates", "email", "rule",
            "shipment-delay-recovery@3", Self.text(late.cause.eventId), Self.epoch(1), "delivered", nil, nil, nil, nil, Self.epoch(1.5), nil, "2",
            "webhook", "customer-messaging", "202", nil, "1800", Self.text(NotificationEvent.requestEventId(notificationId: late.notificationId)),
            Self.text(NotificationEvent.outcomeEventId(notificationId: late.notificationId)),
        ]
        #expect(rows.first { $0[0] == late.notificationId } == lateRow)
        let twiceRow = try #require(rows.first { $0[0] == twice.notificationId })
        // From the request: locale de and requested at 3 h; the outcome stays the suppression's.
        #expect(
            Array(twiceRow[1...17]) == [
                "o-1", "support-case", "customer", "c-1", "csat-survey-invitation", "de", "service-updates", "email", "rule", "csat-after-support@1",
                Self.text(twice.cause.eventId), Self.epoch(3), "suppressed", "no_consent", "at_request", nil, Self.epoch(2.5),
            ])
        #expect(twiceRow[27] == Self.text(NotificationEvent.requestEventId(notificationId: twice.notificationId)))
        #expect(rows.count == 2)
    }
}
