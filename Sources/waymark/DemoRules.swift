import Foundation
import WaymarkEventStore
import WaymarkReactions

/// What the rules did with the simulated integration events: firings by rule and outcome, what
/// could not be judged, and one decision as recorded.
func printRules(_ engine: ReactionEngine, _ say: (String) -> Void) async throws {
    let store = engine.store
    say("rules version \(engine.rules.version); caught up: \(try await engine.waitUntilCaughtUp(timeout: .seconds(120)))")
    let outcomes = try await store.query(
        """
        SELECT data->'trigger'->>'ruleId', o->>'action', split_part(o->>'outcome', ':', 1), count(*)
        FROM events, jsonb_array_elements(data->'outcomes') o WHERE event_type = 'RuleFired' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """)
    for row in outcomes {
        let (rule, action, outcome, count) = try row.decode(String.self, String.self, String.self, Int.self)
        say("\(rule): \(action) \(outcome) × \(count)")
    }
    let skipped = try await store.query(
        "SELECT rule_id, skipped, count(*) FROM rx_fired WHERE skipped IS NOT NULL AND skipped <> 'conditions not met' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5")
    for row in skipped {
        let (rule, reason, count) = try row.decode(String.self, String.self, Int.self)
        say("\(rule) could not judge \(count) event(s): \(reason)")
    }
    if let example = try await store.query(
        """
        SELECT stream_name, data->'trigger'->'inputs', data->'outcomes' FROM events
        WHERE event_type = 'RuleFired' AND data->'trigger'->>'ruleId' = 'shipment-delay-recovery' AND data::text LIKE '%recorded: %' LIMIT 1
        """
    ).first {
        let (stream, inputs, outcomes) = try example.decode(String.self, String.self, String.self)
        say("on \(stream): saw \(inputs); did \(outcomes)")
    }
}
