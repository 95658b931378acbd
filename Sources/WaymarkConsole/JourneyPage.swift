import Foundation
import Hummingbird
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkServer

/// One journey: where it is and since when, its stage visits as a bar over its life, each SLA
/// clock with its 50/75/100 % marks and a countdown, handoffs with their OLA, escalations (to
/// acknowledge or reassign), notifications, and its events with the audit of each automated one.
struct JourneyPage {
    struct Fact {
        var label: String
        var value: String
    }
    struct Visit {
        var visitNo: Int
        var stage: String
        var department: String
        var owner: String
        var entered: String
        var left: String
        var leftFor: String
        var duration: String
        var offset: String
        var width: String
        var isCurrent: Bool
    }
    struct Clock {
        var goal: String
        var state: String
        var stateWords: String
        var calendar: String
        var target: String
        var elapsed: String
        var remaining: String
        var percent: String
        var percentText: String
        var breachAt: String
        var breachAtMachine: String
        var counting: Bool
        var breached: Bool
        var atRisk: Bool
        var department: String
    }
    struct Handoff {
        var handoffNo: Int
        var from: String
        var to: String
        var requested: String
        var decided: String
        var outcome: String
        var decidedBy: String
        var reason: String
        var wait: String
        var olaTarget: String
        var olaState: String
        var olaBreached: Bool
    }
    struct Escalation {
        var escalationId: String
        /// The id as one path segment (ids hold slashes: `o-1/low-score/1`).
        var escalationSegment: String
        var reason: String
        var goal: String
        var level: Int
        var role: String
        var action: String
        var state: String
        var raised: String
        var acknowledgedBy: String?
        var note: String?
        var isOpen: Bool
    }
    struct Notification {
        var template: String
        var recipient: String
        var channel: String
        var state: String
        var reason: String
        var attempts: Int
        var requested: String
        var suppressed: Bool
        var failed: Bool
    }
    struct Event {
        var version: Int64
        var type: String
        var occurred: String
        var actor: String
        var sourceSystem: String
        var automated: Bool
        var audit: [Fact]
    }
    var journeyId: String
    var acknowledgePath: String
    var reassignPath: String
    var facts: [Fact]
    var status: String
    var stalled: Bool
    var open: Bool
    var visits: [Visit]
    var clocks: [Clock]
    var handoffs: [Handoff]
    var escalations: [Escalation]
    var notifications: [Notification]
    var events: [Event]
    var hasHandoffs = false
    var hasEscalations = false
    var hasNotifications = false
    var canAct: Bool
    var message: String?
}

extension Console {
    func addJourneyRoutes(to group: RouterGroup<ApiContext>) {
        group.get("journeys/:journeyId") { request, context in
            _ = try context.require(Self.readers)
            let journeyId = try ApiServer.pathParameter(context, "journeyId")
            var page = try await journey(journeyId, canAct: context.principal?.roles.contains(.operator) ?? false)
            page.message = request.uri.queryParameters["done"].map { Self.doneMessages[String($0)] ?? "" }
            return try render("journey", title: "Journey \(journeyId)", page: page, context: context, current: "board")
        }
        group.post("journeys/:journeyId/escalations/:escalationId/acknowledge") { request, context in
            let principal = try context.require(.operator)
            let journeyId = try ApiServer.pathParameter(context, "journeyId")
            let escalationId = try ApiServer.pathParameter(context, "escalationId")
            let form = try await Self.form(request)
            let note = form["note"].flatMap { $0.isEmpty ? nil : $0 }
            try await send(.acknowledgeEscalation(escalationId: escalationId, by: principal.keyId, note: note), to: journeyId, principal: principal)
            return Response.redirect(to: Self.safeNext(form["next"] ?? Self.journeyHref(journeyId) + "?done=acknowledged"), type: .normal)
        }
        group.post("journeys/:journeyId/reassign") { request, context in
            let principal = try context.require(.operator)
            let journeyId = try ApiServer.pathParameter(context, "journeyId")
            let form = try await Self.form(request)
            let owner = (form["owner"] ?? "").trimmingCharacters(in: .whitespaces)
            guard !owner.isEmpty, owner.unicodeScalars.count <= 200 else {
                throw ApiError(.invalidValue, "the new owner is 1 to 200 characters", field: "form.owner")
            }
            try await send(.reassignOwner(to: owner), to: journeyId, principal: principal)
            return Response.redirect(to: Self.journeyHref(journeyId) + "?done=reassigned", type: .normal)
        }
    }

    static let doneMessages = ["acknowledged": "Escalation acknowledged.", "reassigned": "Journey reassigned."]

    /// A command from the console: the operator is the actor, the console the source system.
    func send(_ command: JourneyCommand, to journeyId: String, principal: Principal) async throws {
        _ = try await api.client.send(
            command, to: journeyId, context: CommandContext(commandId: UUID(), actor: principal.keyId, sourceSystem: "waymark-console"))
    }

    func journey(_ journeyId: String, canAct: Bool) async throws -> JourneyPage {
        let views = (
            journeys: api.view("journeys"), visits: api.view("time_in_status"), sla: api.view("sla"), handoffs: api.view("handoffs"),
            ola: api.view("ola"), escalations: api.view("escalations"), notifications: api.view("notifications")
        )
        let (journey, visits, clocks, handoffs, escalations, notifications) = try await api.readViews { transaction in
            (
                try await transaction.query(
                    """
                    SELECT journey_type, definition_version, stage, department, coalesce(owner, '') AS owner, status, tier, current_tier,
                           survivor_customer_id, started_at, ended_at, extract(epoch FROM time_in_stage)::float8 AS in_stage, priority,
                           coalesce(ended_at, now()) AS until
                    FROM \(views.journeys) WHERE journey_id = \(journeyId)
                    """),
                try await transaction.query(
                    """
                    SELECT visit_no, stage, department, coalesce(owner, '') AS owner, entered_at, left_at, coalesce(left_for, '') AS left_for,
                           extract(epoch FROM duration)::float8 AS seconds, is_current
                    FROM \(views.visits) WHERE journey_id = \(journeyId) ORDER BY visit_no
                    """),
                try await transaction.query(
                    """
                    SELECT goal, state, calendar, extract(epoch FROM target)::float8 AS target, extract(epoch FROM elapsed)::float8 AS elapsed,
                           extract(epoch FROM remaining)::float8 AS remaining, percent_elapsed::float8 AS percent, breach_at, coalesce(department, '') AS department
                    FROM \(views.sla) WHERE journey_id = \(journeyId) ORDER BY goal
                    """),
                try await transaction.query(
                    """
                    SELECT h.handoff_no, h.from_stage, h.to_stage, h.from_department, h.to_department, h.requested_at, h.decided_at, h.outcome,
                           coalesce(h.decided_by, '') AS decided_by, coalesce(h.reason, '') AS reason, extract(epoch FROM h.wait)::float8 AS wait,
                           extract(epoch FROM o.target)::float8 AS ola_target, o.state AS ola_state, coalesce(o.ever_breached, false) AS ola_breached
                    FROM \(views.handoffs) h LEFT JOIN \(views.ola) o ON o.journey_id = h.journey_id AND o.handoff_no = h.handoff_no
                    WHERE h.journey_id = \(journeyId) ORDER BY h.handoff_no
                    """),
                try await transaction.query(
                    """
                    SELECT escalation_id, reason, coalesce(goal, '') AS goal, level, role, action, state, raised_at, coalesce(acknowledged_by, '') AS acknowledged_by,
                           coalesce(note, '') AS note
                    FROM \(views.escalations) WHERE journey_id = \(journeyId) ORDER BY raised_at, escalation_id
                    """),
                try await transaction.query(
                    """
                    SELECT template, recipient_kind, recipient, coalesce(channel, contact_channel, '') AS channel, state,
                           coalesce(suppressed_reason, last_error, '') AS reason, coalesce(attempts, 0) AS attempts, requested_at
                    FROM \(views.notifications) WHERE journey_id = \(journeyId) ORDER BY requested_at, notification_id
                    """)
            )
        }
        guard let row = journey.first else {
            throw ApiError(.notFound, "no journey '\(journeyId.prefix(200))' in the views (a journey just started appears once the projections have read it)")
        }
        let started = try row.decode(Date.self, column: "started_at")
        let until = try row.decode(Date.self, column: "until")
        let span = max(until.timeIntervalSince(started), 1)
        let status = try row.decode(String.self, column: "status")
        let ended = try row.decode(Date?.self, column: "ended_at")
        let customer = try row.decode(String?.self, column: "survivor_customer_id")
        let facts: [JourneyPage.Fact] = [
            .init(
                label: "Type", value: "\(try row.decode(String.self, column: "journey_type")) (\(try row.decode(String.self, column: "definition_version")))"),
            .init(label: "Stage", value: try row.decode(String.self, column: "stage")),
            .init(label: "Department", value: try row.decode(String.self, column: "department")),
            .init(label: "Owner", value: try row.decode(String.self, column: "owner")),
            .init(label: "Status", value: Formatting.words(status)),
            .init(label: "Tier", value: try row.decode(String.self, column: "current_tier")),
            .init(label: "Customer", value: customer ?? ""),
            .init(label: "Started", value: Formatting.time(started)),
            .init(
                label: ended == nil ? "In stage for" : "Ended",
                value: try ended.map { Formatting.time($0) } ?? Formatting.duration(try row.decode(Double?.self, column: "in_stage"))),
            .init(label: "Priority", value: String(try row.decode(Int.self, column: "priority"))),
        ]
        let now = Date()
        var page = JourneyPage(
            journeyId: journeyId, acknowledgePath: Self.journeyHref(journeyId) + "/escalations/", reassignPath: Self.journeyHref(journeyId) + "/reassign",
            facts: facts, status: status, stalled: status == "stalled", open: ended == nil,
            visits: try visits.map { visit in
                let entered = try visit.decode(Date.self, column: "entered_at")
                let left = try visit.decode(Date?.self, column: "left_at")
                return .init(
                    visitNo: try visit.decode(Int.self, column: "visit_no"), stage: try visit.decode(String.self, column: "stage"),
                    department: try visit.decode(String.self, column: "department"), owner: try visit.decode(String.self, column: "owner"),
                    entered: Formatting.time(entered), left: Formatting.time(left),
                    leftFor: try visit.decode(String.self, column: "left_for"),
                    duration: Formatting.duration(try visit.decode(Double?.self, column: "seconds")),
                    offset: Formatting.percent(entered.timeIntervalSince(started) / span * 100),
                    width: Formatting.percent(max((left ?? until).timeIntervalSince(entered) / span * 100, 0.5)),
                    isCurrent: try visit.decode(Bool.self, column: "is_current"))
            },
            clocks: try clocks.map { clock in
                let state = try clock.decode(String.self, column: "state")
                let percent = try clock.decode(Double?.self, column: "percent") ?? 0
                let breachAt = try clock.decode(Date?.self, column: "breach_at")
                return .init(
                    goal: try clock.decode(String.self, column: "goal"), state: state, stateWords: Formatting.words(state),
                    calendar: try clock.decode(String.self, column: "calendar"), target: Formatting.duration(try clock.decode(Double?.self, column: "target")),
                    elapsed: Formatting.duration(try clock.decode(Double?.self, column: "elapsed")),
                    remaining: Formatting.duration(try clock.decode(Double?.self, column: "remaining")), percent: Formatting.percent(percent),
                    percentText: String(format: "%.0f", percent), breachAt: Formatting.time(breachAt), breachAtMachine: Formatting.machineTime(breachAt),
                    counting: state == "running" && (breachAt.map { $0 > now } ?? false), breached: state.hasPrefix("breached"),
                    atRisk: !state.hasPrefix("breached") && percent >= 75 && (state == "running" || state == "paused"),
                    department: try clock.decode(String.self, column: "department"))
            },
            handoffs: try handoffs.map { handoff in
                .init(
                    handoffNo: try handoff.decode(Int.self, column: "handoff_no"),
                    from: "\(try handoff.decode(String.self, column: "from_stage")) (\(try handoff.decode(String.self, column: "from_department")))",
                    to: "\(try handoff.decode(String.self, column: "to_stage")) (\(try handoff.decode(String.self, column: "to_department")))",
                    requested: Formatting.time(try handoff.decode(Date.self, column: "requested_at")),
                    decided: Formatting.time(try handoff.decode(Date?.self, column: "decided_at")), outcome: try handoff.decode(String.self, column: "outcome"),
                    decidedBy: try handoff.decode(String.self, column: "decided_by"), reason: try handoff.decode(String.self, column: "reason"),
                    wait: Formatting.duration(try handoff.decode(Double?.self, column: "wait")),
                    olaTarget: Formatting.duration(try handoff.decode(Double?.self, column: "ola_target")),
                    olaState: Formatting.words(try handoff.decode(String?.self, column: "ola_state")),
                    olaBreached: try handoff.decode(Bool.self, column: "ola_breached"))
            },
            escalations: try escalations.map { try Self.escalation($0) },
            notifications: try notifications.map { note in
                let state = try note.decode(String.self, column: "state")
                let kind = try note.decode(String.self, column: "recipient_kind")
                return .init(
                    template: try note.decode(String.self, column: "template"),
                    recipient: kind == "role" ? try note.decode(String.self, column: "recipient") : "the customer",
                    channel: try note.decode(String.self, column: "channel"), state: state,
                    reason: Formatting.words(try note.decode(String.self, column: "reason")),
                    attempts: try note.decode(Int.self, column: "attempts"), requested: Formatting.time(try note.decode(Date.self, column: "requested_at")),
                    suppressed: state == "suppressed", failed: state == "failed")
            },
            events: try await events(journeyId), canAct: canAct, message: nil)
        page.hasHandoffs = !page.handoffs.isEmpty
        page.hasEscalations = !page.escalations.isEmpty
        page.hasNotifications = !page.notifications.isEmpty
        return page
    }

    static func escalation(_ row: PostgresRow) throws -> JourneyPage.Escalation {
        let state = try row.decode(String.self, column: "state")
        let escalationId = try row.decode(String.self, column: "escalation_id")
        return .init(
            escalationId: escalationId, escalationSegment: pathSegment(escalationId), reason: Formatting.words(try row.decode(String.self, column: "reason")),
            goal: try row.decode(String.self, column: "goal"), level: try row.decode(Int.self, column: "level"),
            role: try row.decode(String.self, column: "role"),
            action: try row.decode(String.self, column: "action"), state: state, raised: Formatting.time(try row.decode(Date.self, column: "raised_at")),
            acknowledgedBy: Self.nonEmpty(try row.decode(String.self, column: "acknowledged_by")),
            note: Self.nonEmpty(try row.decode(String.self, column: "note")),
            isOpen: state == "open")
    }

    /// nil for an empty text: a template's section shows for any string, even an empty one.
    static func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }

    /// The journey's stream, newest first: what happened, who did it, from which system, and for
    /// an automated decision its audit (never the events' other data, which can be personal).
    func events(_ journeyId: String) async throws -> [JourneyPage.Event] {
        var events: [JourneyPage.Event] = []
        var from: Int64? = nil
        repeat {
            let slice = try await api.store.readStream(JourneyDecider.streamName(journeyId), from: from, limit: 1_000)
            for event in slice.events {
                let audit = Self.audit(event.data)
                events.append(
                    .init(
                        version: event.streamVersion, type: event.type, occurred: Formatting.time(event.occurredAt), actor: event.metadata.actor ?? "",
                        sourceSystem: event.metadata.sourceSystem ?? "", automated: !audit.isEmpty, audit: audit))
            }
            from = slice.nextVersion
        } while from != nil
        return events.reversed()
    }

    /// The `audit` object of an automated decision's data, as label and value: the rule, the
    /// deadline, when it was due and decided, and what the decision saw.
    static func audit(_ data: String) -> [JourneyPage.Fact] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any], let audit = object["audit"] as? [String: Any] else {
            return []
        }
        var facts: [JourneyPage.Fact] = []
        for key in ["rule", "goal", "level", "percent", "stage", "department", "tier", "since", "dueAt", "decidedAt", "latenessSeconds", "stale", "instance"] {
            guard let value = audit[key], !(value is NSNull) else { continue }
            facts.append(.init(label: key, value: "\(value)"))
        }
        if let trigger = audit["trigger"] as? [String: Any] {
            for key in ["ruleId", "ruleVersion", "eventType", "eventId"] {
                if let value = trigger[key] { facts.append(.init(label: "trigger.\(key)", value: "\(value)")) }
            }
        }
        return facts
    }
}
