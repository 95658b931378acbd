import Foundation
import Logging
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProcessManager

/// The demo's process manager: once it has scheduled the log, waits (at most a minute) for the
/// overdue deadlines to fire, then counts its decisions from the events themselves, explains the
/// latest escalation from its audit and acknowledges it as an operator would.
func printProcessManager(_ manager: ProcessManager, client: WaymarkClient, logger: Logger, _ say: (String) -> Void) async throws {
    let store = manager.store
    let scheduled = try await manager.waitUntilScheduled(timeout: .seconds(120))
    say("deadlines scheduled from the log: \(scheduled)")
    var status = try await ProcessManagerStatus.read(store, now: Date(), logger: logger)
    // Firing runs as its own service; this waits for the overdue count to reach zero, or to stand
    // still for five seconds (a deadline that cannot fire says so in the log), at most a minute.
    let clock = ContinuousClock()
    let until = clock.now + .seconds(60)
    var lastChange = clock.now
    while status.overdue > 0, clock.now < until, clock.now - lastChange < .seconds(5) {
        try await Task.sleep(for: .milliseconds(200))
        let next = try await ProcessManagerStatus.read(store, now: Date(), logger: logger)
        if next.overdue != status.overdue { lastChange = clock.now }
        status = next
    }
    say(
        "pending \(status.pending) (\(status.kinds.map { "\($0.kind) \($0.pending)" }.joined(separator: ", "))), overdue \(status.overdue), fired by \(status.instances.map { "\($0.instance): \($0.fired)" }.joined(separator: ", "))"
    )
    say("decisions recorded on the journeys (stale: overdue by more than stale_after when fired, so they act on no one):")
    let rows = try await store.query(
        """
        SELECT event_type, count(*) FILTER (WHERE NOT (data->'audit'->>'stale')::bool), count(*) FILTER (WHERE (data->'audit'->>'stale')::bool),
               count(DISTINCT stream_name)
        FROM events WHERE category = 'journey' AND event_type IN ('JourneyStalled', 'SlaThresholdCrossed', 'SlaBreached', 'EscalationRaised')
        GROUP BY event_type ORDER BY event_type
        """)
    if rows.isEmpty { say("  none yet") }
    for row in rows {
        let (type, fresh, stale, journeys) = try row.decode(String.self, Int.self, Int.self, Int.self)
        say("  \(type.padding(toLength: 20, withPad: " ", startingAt: 0)) \(fresh) on time or late, \(stale) stale, on \(journeys) journeys")
    }
    let actions = try await store.query(
        "SELECT event_type, count(*) FROM events WHERE category = 'journey' AND event_type IN ('OwnerReassigned', 'PriorityRaised') GROUP BY 1 ORDER BY 1")
    for row in actions {
        let (type, count) = try row.decode(String.self, Int.self)
        say("  \(type.padding(toLength: 20, withPad: " ", startingAt: 0)) \(count) (by people and by ladders)")
    }
    try await acknowledgeLatestEscalation(client, say)
}

/// The latest escalation still open, why it was raised (its audit), and an operator's acknowledgement.
private func acknowledgeLatestEscalation(_ client: WaymarkClient, _ say: (String) -> Void) async throws {
    let rows = try await client.store.query(
        """
        SELECT stream_name, data->>'escalationId' FROM events e
        WHERE category = 'journey' AND event_type = 'EscalationRaised' AND NOT (data->'audit'->>'stale')::bool
          AND NOT EXISTS (SELECT 1 FROM events a WHERE a.stream_name = e.stream_name AND a.event_type = 'EscalationAcknowledged'
                          AND a.data->>'escalationId' = e.data->>'escalationId')
        ORDER BY global_id DESC LIMIT 1
        """)
    guard let row = rows.first else {
        say("no escalation on time is open to acknowledge")
        return
    }
    let (stream, escalationId) = try row.decode(String.self, String.self)
    let journeyId = String(stream.dropFirst(JourneyDecider.category.count + 1))
    for recorded in try await client.timeline(journey: journeyId) where recorded.type == "EscalationRaised" {
        let event = try JourneyEvent.decode(type: recorded.type, data: recorded.data, codec: client.configuration.codec)
        guard case .escalationRaised(let raised) = event, raised.escalationId == escalationId else { continue }
        let audit = raised.audit
        say(
            "why escalation \(escalationId) was raised: rule \(audit.rule.rawValue), level \(raised.level) to \(raised.role) (\(raised.action.rawValue)), stage \(audit.stage) in \(audit.department), tier \(audit.tier), due \(TimestampText.iso8601(audit.dueAt)), decided \(TimestampText.iso8601(audit.decidedAt)) by \(audit.instance), definition \(audit.definitionVersion)"
        )
    }
    let result = try await client.send(.acknowledgeEscalation(escalationId: escalationId, by: "demo-operator", note: "on it"), to: journeyId)
    say("acknowledged by demo-operator: \(result.types.joined(separator: ", ")) at version \(result.streamVersion) (an SLA ladder stops there for the cycle)")
}
