import AsyncHTTPClient
import Foundation
import Logging
import Testing
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkTesting

/// A store, the shipped templates, settings that route every role and the customer to one
/// loopback endpoint (or the log), and helpers to request notifications and read what happened.
struct DeliveryFixture {
    let store: EventStore
    let secret = WebhookSecret.random()
    let clock: TestClock
    /// The workers' time: the test clock, from the wall time at the start (receivers check the
    /// signature's timestamp against their own clock).
    let time: WallTime

    static func make() async throws -> DeliveryFixture {
        let clock = TestClock()
        // Whole seconds: PostgreSQL keeps microseconds, and a due time rounded up past its request
        // would look put off.
        let origin = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        return DeliveryFixture(store: try await TestDatabase.freshStore(), clock: clock, time: WallTime(clock, origin: origin))
    }

    static var templates: NotificationTemplates {
        get throws {
            try NotificationTemplates.load(
                directory: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/templates"))
        }
    }

    /// Roles `desk` and `ops` and the customer: `desk` and the customer by webhook to `url`, `ops` to the log.
    func settings(url: URL, concurrency: Int = 8, timeout: Duration = .seconds(5), operatorsRole: String? = "ops") -> NotificationSettings {
        let endpoint = WebhookEndpoint(name: "desk", url: url, secrets: [secret], timeout: timeout, concurrency: concurrency)
        return NotificationSettings(
            source: "/waymark/test", endpoints: ["desk": endpoint],
            roles: ["desk": NotificationRoute(channel: .webhook, endpoint: "desk"), "ops": NotificationRoute(channel: .log, endpoint: nil)],
            customer: NotificationRoute(channel: .webhook, endpoint: "desk"), operatorsRole: operatorsRole)
    }

    func worker(
        _ settings: NotificationSettings, options: DeliveryOptions = DeliveryOptions(), client: HTTPClient, name: String = "w1",
        logger: Logger = TestDatabase.quietLogger
    ) throws -> DeliveryWorker {
        try DeliveryWorker(
            store: store, settings: settings, templates: try Self.templates, httpClient: client, options: options, time: time, worker: name, logger: logger)
    }

    static let journey = NotificationEvent.JourneyContext(
        journeyId: "j-1", journeyType: "order-to-cash", definitionVersion: "order-to-cash+0123456789abcdef", stage: "fulfilment", department: "fulfilment",
        tier: "strategic")

    /// Appends a request for `recipient` to journey `journeyId`'s stream, as a decision would.
    @discardableResult
    func request(_ recipient: NotificationRecipient, journeyId: String = "j-1", cause: String = UUID().uuidString) async throws -> NotificationEvent.Requested {
        let causeId = DerivedUUID.of(Data(cause.utf8))
        var journey = Self.journey
        journey.journeyId = journeyId
        let customer = recipient.kind == .customer
        let template = customer ? "csat-survey-invitation" : "escalation-raised"
        let variables: [String: NotificationValue] =
            customer
            ? ["case_reference": .text("case-1"), "survey_url": .text("https://survey.example.com/s/1"), "expires_in_days": .text("7")]
            : [
                "journey_id": .text(journeyId), "journey_type": .text("order-to-cash"), "customer_tier": .text("strategic"), "stage": .text("fulfilment"),
                "reason": .text("sla_ladder"), "level": .text("1"), "escalated_at": .text("2026-12-01T10:00:00Z"),
            ]
        let request = NotificationEvent.Requested(
            notificationId: NotificationEvent.notificationId(cause: causeId, recipient: recipient, template: template), recipient: recipient,
            template: template, locale: "en", purpose: customer ? "service-updates" : nil, contactChannel: customer ? "email" : nil, variables: variables,
            cause: .init(eventId: causeId, kind: "rule", reference: "test@1"), journey: journey, requestedAt: time.now())
        let event = NotificationEvent.requested(request)
        try await store.append(
            to: "journey-\(journeyId)",
            events: [
                EventData(
                    id: NotificationEvent.requestEventId(notificationId: request.notificationId), type: event.type,
                    data: try event.encode(with: .standard, subject: nil),
                    metadata: EventMetadata(correlationId: journeyId, actor: "test"))
            ])
        return request
    }

    /// The notification events on journey `journeyId`'s stream, and the escalations there.
    func outcomes(journeyId: String = "j-1") async throws -> (notifications: [NotificationEvent], escalations: [JourneyEvent.EscalationRaised]) {
        let slice = try await store.readStream("journey-\(journeyId)")
        var notifications: [NotificationEvent] = []
        var escalations: [JourneyEvent.EscalationRaised] = []
        for recorded in slice.events {
            if let event = try NotificationEvent.decode(type: recorded.type, data: recorded.data, codec: .standard) { notifications.append(event) }
            if case .escalationRaised(let raised) = try JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: .standard) {
                escalations.append(raised)
            }
        }
        return (notifications, escalations)
    }

    func outcome(of id: String, journeyId: String = "j-1") async throws -> NotificationEvent? {
        try await outcomes(journeyId: journeyId).notifications.first { $0.notificationId == id && !($0.isRequest) }
    }

    /// The row of `id`: state, attempts, next attempt.
    func row(_ id: String) async throws -> (state: String, attempts: Int, next: Date)? {
        let rows = try await store.pool.query("SELECT state, attempts, next_attempt_at FROM nt_deliveries WHERE notification_id = \(id)")
        return try rows.first.map { try $0.decode(String.self, Int.self, Date.self) }
    }

    /// Records a consent event (`ConsentGiven`, `ConsentWithdrawn`, …) with JSON `data` for `subject`; returns its id.
    @discardableResult
    func consent(_ type: String, _ data: String, subject: String) async throws -> UUID {
        let id = UUID()
        try await store.append(
            to: ConsentDecider.streamName(subject), events: [EventData(id: id, type: type, data: data, metadata: EventMetadata(actor: "test"))])
        return id
    }

    static func scopeJSON(_ purpose: String = "service-updates", _ channel: String = "email") -> String {
        #"{"purpose":"\#(purpose)","channel":"\#(channel)"}"#
    }

    func grant(subject: String, purpose: String = "service-updates", channel: String = "email") async throws -> UUID {
        let record = ConsentRecord(
            scope: ConsentScope(purpose: purpose, channel: channel), legalBasis: .consent, noticeVersion: "n1", collectionPoint: "web", proofReference: "p1")
        let event = ConsentEvent.given(record)
        return try await consent(event.type, try event.encode(with: .standard, subject: subject), subject: subject)
    }

    func withdraw(subject: String, purpose: String = "service-updates", channel: String = "email") async throws -> UUID {
        try await consent("ConsentWithdrawn", #"{"scope":\#(Self.scopeJSON(purpose, channel)),"proofReference":"p2"}"#, subject: subject)
    }

    func registerCustomer(_ id: String, name: String) async throws {
        try await store.append(
            to: CustomerDecider.streamName(id),
            events: [
                EventData(
                    id: UUID(), type: "CustomerRegistered", data: #"{"customerId":"\#(id)","name":"\#(name)","tier":"strategic"}"#,
                    metadata: EventMetadata(actor: "test"))
            ])
    }
}

extension NotificationEvent {
    var isRequest: Bool {
        if case .requested = self { return true }
        return false
    }
}

/// An HTTP client for one test, shut down after `body`.
func withHTTPClient<T: Sendable>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: WebhookSender.clientConfiguration())
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try await client.shutdown()
        throw error
    }
}

/// Waits for `condition` (see `eventually`) and records an issue at the caller when it never held.
func expectEventually(
    timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let held = try await eventually(timeout: timeout, condition)
    #expect(held, "the condition never held", sourceLocation: sourceLocation)
}
