import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkSimulation
import WaymarkTesting

/// The events of the systems around the journeys that the rules of `config/rules.yaml` react to,
/// checked from the log in the shapes `docs/rules.md` gives them.
@Suite("Simulator integration events for the rules")
struct SimulatorIntegrationEventsTests {
    static let types = ["ShipmentDelayed", "SupportCaseClosed", "SurveyAnswered"]

    @Test("shipment delays, closed support cases and survey answers: their streams, fields, correlation ids and odd cases")
    func ruleTriggers() async throws {
        let simulator = try await freshSimulator()
        defer { Task { await simulator.client.store.close() } }
        let counts = try await simulator.run(SimulationOptions(journeys: 300, seed: 11, until: until))
        #expect(counts.rejected == 0)
        let store = simulator.client.store

        // Each kind appears, as often as the simulation counted.
        let logged = Dictionary(
            uniqueKeysWithValues: try await store.query(
                "SELECT event_type, count(*) FROM events WHERE event_type IN ('ShipmentDelayed', 'SupportCaseClosed', 'SurveyAnswered', 'CRMNoteSynced') GROUP BY 1"
            ).map { (try $0.decode(String.self, at: 0), try $0.decode(Int.self, at: 1)) })
        for type in Self.types { #expect(logged[type, default: 0] > 0, "no \(type) events: \(logged)") }
        #expect(counts.integrationEvents == logged, "\(counts.integrationSummary)")

        // Every one has its stream, exactly its fields with their types, the journey it names as
        // correlation id, its system and actor, and the time it happened.
        let malformed = try await store.query(
            """
            SELECT event_type, stream_name, data::text, metadata::text FROM events
            WHERE event_type IN ('ShipmentDelayed', 'SupportCaseClosed', 'SurveyAnswered') AND NOT (
              jsonb_typeof(data->'journeyId') = 'string' AND metadata->>'correlation_id' = data->>'journeyId'
              AND metadata->>'actor' IS NOT NULL AND metadata->>'occurred_at' IS NOT NULL
              AND CASE event_type
                WHEN 'ShipmentDelayed' THEN
                  (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(data) k) = ARRAY['delayHours', 'journeyId', 'newDeliveryDate', 'orderId']
                  AND category = 'shipment' AND jsonb_typeof(data->'orderId') = 'string' AND stream_name = 'shipment-' || (data->>'orderId')
                  AND jsonb_typeof(data->'delayHours') = 'number' AND data->>'delayHours' ~ '^[0-9]+$'
                  AND data->>'newDeliveryDate' ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
                  AND data->>'newDeliveryDate' > left(metadata->>'occurred_at', 10)
                  AND metadata->>'source_system' = 'erp'
                WHEN 'SupportCaseClosed' THEN
                  (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(data) k) = ARRAY['caseId', 'journeyId', 'resolution']
                  AND category = 'support' AND jsonb_typeof(data->'caseId') = 'string' AND stream_name = 'support-' || (data->>'caseId')
                  AND data->>'resolution' IN ('resolved', 'workaround', 'duplicate') AND metadata->>'source_system' = 'support-desk'
                ELSE
                  (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(data) k) = ARRAY['channel', 'journeyId', 'kind', 'score', 'surveyId']
                  AND category = 'survey' AND jsonb_typeof(data->'surveyId') = 'string' AND stream_name = 'survey-' || (data->>'surveyId')
                  AND data->>'kind' = 'csat' AND data->>'channel' = 'email'
                  AND jsonb_typeof(data->'score') = 'number' AND data->>'score' IN ('1', '2', '3', '4', '5')
                  AND metadata->>'source_system' = 'survey-tool'
              END)
            """
        ).map { try $0.decode(String.self, String.self, String.self, String.self) }
        #expect(malformed.isEmpty, "\(malformed.prefix(3))")

        // The deliberate orphans: delays on orders Waymark never saw. Nothing else names no journey.
        let orphans = try await store.query(
            """
            SELECT e.event_type, e.data->>'orderId' IN (SELECT external FROM (SELECT data->>'journeyId' AS journey, data->>'journeyType' AS type, data->>'externalProcessId' AS external FROM events WHERE event_type = 'JourneyStarted') s WHERE external IS NOT NULL) FROM events e
            WHERE e.event_type IN ('ShipmentDelayed', 'SupportCaseClosed', 'SurveyAnswered')
              AND NOT EXISTS (SELECT 1 FROM (SELECT data->>'journeyId' AS journey, data->>'journeyType' AS type, data->>'externalProcessId' AS external FROM events WHERE event_type = 'JourneyStarted') s WHERE s.journey = e.data->>'journeyId')
            """
        ).map { try $0.decode(String.self, Bool?.self) }
        #expect(!orphans.isEmpty && orphans.count * 4 < logged["ShipmentDelayed", default: 0] - orphans.count, "\(orphans.count) orphans")
        #expect(orphans.allSatisfy { $0.0 == "ShipmentDelayed" && $0.1 == false }, "\(orphans)")

        // Delays only on order-to-cash journeys, for their own order; cases closed only on support
        // cases, for their own case.
        #expect(
            try await store.query(
                """
                SELECT count(*) FROM events e JOIN (SELECT data->>'journeyId' AS journey, data->>'journeyType' AS type, data->>'externalProcessId' AS external FROM events WHERE event_type = 'JourneyStarted') s ON s.journey = e.data->>'journeyId'
                WHERE (e.event_type = 'ShipmentDelayed' AND (s.type <> 'order-to-cash' OR s.external <> e.data->>'orderId'))
                   OR (e.event_type = 'SupportCaseClosed' AND (s.type <> 'support-case' OR s.external <> e.data->>'caseId'))
                   OR (e.event_type = 'SurveyAnswered' AND s.type <> 'support-case')
                """)[0].decode(Int.self, at: 0) == 0)

        // Every answer is to the survey of a case closed on the same journey before it.
        #expect(
            try await store.query(
                """
                SELECT count(*) FROM events a WHERE a.event_type = 'SurveyAnswered' AND NOT EXISTS (
                  SELECT 1 FROM events c WHERE c.event_type = 'SupportCaseClosed' AND c.global_id < a.global_id
                    AND 'csat-' || (c.data->>'caseId') = a.data->>'surveyId' AND c.data->>'journeyId' = a.data->>'journeyId')
                """)[0].decode(Int.self, at: 0) == 0)

        try await oddCases(store)
    }

    /// Delays come while the order is in fulfilment, or after the journey completed; some
    /// orders are delayed twice, each time longer; cancelled cases get closed too; some surveys
    /// are answered twice; the figures look real.
    func oddCases(_ store: EventStore) async throws {
        // Per delay on a known journey: completed before it in the log, or else the department of
        // the last stage the journey entered before it.
        let whereDelayed = try await store.query(
            """
            SELECT CASE WHEN EXISTS (
                     SELECT 1 FROM events c WHERE c.stream_name = 'journey-' || (d.data->>'journeyId') AND c.event_type = 'JourneyCompleted'
                       AND c.global_id < d.global_id) THEN 'completed'
                   ELSE (SELECT s.data->>'department' FROM events s
                         WHERE s.stream_name = 'journey-' || (d.data->>'journeyId') AND s.event_type IN ('JourneyStarted', 'StageEntered')
                           AND s.global_id < d.global_id ORDER BY s.global_id DESC LIMIT 1) END, count(*)
            FROM events d
            WHERE d.event_type = 'ShipmentDelayed' AND EXISTS (SELECT 1 FROM events j WHERE j.stream_name = 'journey-' || (d.data->>'journeyId'))
            GROUP BY 1
            """
        ).map { (try $0.decode(String?.self, at: 0), try $0.decode(Int.self, at: 1)) }
        #expect(Set(whereDelayed.map(\.0)) == ["fulfilment", "completed"], "\(whereDelayed)")

        // Second delays on an order: the stream's next version, each longer than the one before
        // and delivering no earlier.
        let repeated = try await store.query(
            """
            SELECT count(*), count(*) FILTER (WHERE (b.data->>'delayHours')::int <= (a.data->>'delayHours')::int
                                              OR b.data->>'newDeliveryDate' < a.data->>'newDeliveryDate')
            FROM events a JOIN events b ON b.stream_name = a.stream_name AND b.stream_version = a.stream_version + 1
            WHERE a.event_type = 'ShipmentDelayed' AND b.event_type = 'ShipmentDelayed'
            """)
        let (pairs, shorter) = try repeated[0].decode(Int.self, Int.self)
        #expect(pairs > 0 && shorter == 0, "\(pairs) second delays, \(shorter) not longer or delivering earlier")
        #expect(
            try await store.query("SELECT count(*) FROM events WHERE event_type = 'ShipmentDelayed' AND stream_version > 1")[0].decode(Int.self, at: 0) == pairs
        )

        // Mostly 4 to 72 hours at the first report, some no delay after all; some delays of more
        // than five days.
        let hours = try await store.query(
            """
            SELECT count(*) FILTER (WHERE (data->>'delayHours')::int = 0 AND stream_version = 1),
                   count(*) FILTER (WHERE (data->>'delayHours')::int BETWEEN 4 AND 72 AND stream_version = 1),
                   count(*) FILTER (WHERE (data->>'delayHours')::int > 120), count(*) FILTER (WHERE stream_version = 1)
            FROM events WHERE event_type = 'ShipmentDelayed'
            """)
        let (none, usual, long, delays) = try hours[0].decode(Int.self, Int.self, Int.self, Int.self)
        #expect(none > 0 && long > 0 && Double(usual) / Double(delays) > 0.6, "\(none) none, \(usual) usual of \(delays) first reports, \(long) long")

        // Closed cases: mostly completed ones, a few cancelled; every resolution shows.
        let closed = try await store.query(
            """
            SELECT c.data->>'resolution', EXISTS (SELECT 1 FROM events x WHERE x.stream_name = 'journey-' || (c.data->>'journeyId')
                                                  AND x.event_type = 'JourneyCancelled' AND x.global_id < c.global_id)
            FROM events c WHERE c.event_type = 'SupportCaseClosed'
            """
        ).map { try $0.decode(String.self, Bool.self) }
        #expect(Set(closed.map(\.0)) == ["resolved", "workaround", "duplicate"])
        #expect(closed.contains { $0.1 } && closed.filter { $0.1 }.count * 3 < closed.count)

        // Scores skewed high, some 1s and 2s; now and then a second answer to the same survey.
        let scores = try await store.query(
            """
            SELECT count(*) FILTER (WHERE (data->>'score')::int >= 4), count(*) FILTER (WHERE (data->>'score')::int <= 2), count(*),
                   count(*) FILTER (WHERE stream_version = 2)
            FROM events WHERE event_type = 'SurveyAnswered'
            """)
        let (high, low, answers, second) = try scores[0].decode(Int.self, Int.self, Int.self, Int.self)
        #expect(Double(high) / Double(answers) > 0.5 && low > 0 && second > 0, "\(high) high, \(low) low, \(second) second of \(answers)")
    }
}
