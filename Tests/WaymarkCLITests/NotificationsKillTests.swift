import Foundation
import Testing
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkTesting
import WaymarkWebhookReceiver

@Suite("waymark notifications", .scaledTimeLimit(minutes: 5))
struct NotificationsKillTests {
    /// The repository's configuration with a notifications.yaml that sends one role to `url`.
    static func configuration(url: URL) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-notify-\(UUID().uuidString)")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try FileManager.default.copyItem(at: repository.appendingPathComponent("config"), to: folder)
        let settings = """
            source: /waymark/kill-test
            endpoints:
              receiver:
                url: \(url.absoluteString)
                secret_env: KILL_TEST_WEBHOOK_SECRET
                timeout: 5s
                concurrency: 8
            roles:
              fulfilment-lead: {channel: webhook, endpoint: receiver}
              operations-manager: {channel: log}
            operators_role: operations-manager
            """
        try settings.write(to: folder.appendingPathComponent("notifications.yaml"), atomically: true, encoding: .utf8)
        return folder
    }

    @Test("two delivery workers, one killed with SIGKILL again and again: every notification reaches the receiver signed, and each delivery is recorded once")
    func killedAgainAndAgain() async throws {
        let secret = WebhookSecret.random()
        // Slow enough that kills land while deliveries are in flight.
        try await LoopbackReceiver.run(secrets: [secret], answer: .slow(.milliseconds(60), status: 204)) { receiver, url in
            let folder = try Self.configuration(url: url)
            defer { try? FileManager.default.removeItem(at: folder) }
            let databaseURL = try TestDatabase.url()
            let schema = TestDatabase.uniqueSchemaName("ntk")
            let database = ["--database-url", databaseURL, "--schema", schema, "--log-level", "warning"]
            let (migrated, output) = try await waymark(["migrate"] + database)
            #expect(migrated == 0, "\(output)")
            let store = try cliStore(url: databaseURL, schema: schema, maxConnections: 4)
            defer { Task { await store.close() } }

            let logs = folder.appendingPathComponent("workers.log")
            func worker(_ name: String) throws -> Process {
                try startWaymark(
                    [
                        "notifications", "run", "--worker", name, "--concurrency", "8", "--lease-seconds", "2", "--retry-base-seconds", "0.2", "--definitions",
                        folder.path,
                    ]
                        + database, output: logs, environment: ["KILL_TEST_WEBHOOK_SECRET": secret.serialized()])
            }
            // Requested before the workers start: appended while they ran, most were delivered
            // before the kills began on a loaded machine (CI: 2 kills midway).
            let ids = try await Self.request(1_500, in: store)
            var running = [try worker("nt-a"), try worker("nt-b")]

            func recorded() async throws -> Int {
                try await store.query("SELECT count(*)::int8 FROM events WHERE event_type = 'NotificationDelivered'")[0].decode(Int.self, at: 0)
            }
            var kills = 0
            var killsMidway = 0
            let deadline = ContinuousClock.now + .seconds(150)
            while try await recorded() < ids.count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250 + 100 * (kills % 4)))
                let seen = try await recorded()
                kill(running[1].processIdentifier, SIGKILL)
                _ = await running[1].exited()
                kills += 1
                if seen > 0 && seen < ids.count { killsMidway += 1 }
                running[1] = try worker("nt-b")
            }
            #expect(killsMidway >= 5, "only \(killsMidway) kills came while notifications were being delivered; the test proved little")
            // The kills have stopped: what is left (claims of the last killed worker wait out their
            // lease) is delivered by the workers as they are, however slow the machine.
            let finished = try await eventually(timeout: .seconds(120)) { try await recorded() == ids.count }
            let delivered = try await recorded()
            #expect(finished, "\(delivered) of \(ids.count) delivered")
            let (status, statusOutput) = try await waymark(["notifications", "status", "--definitions", folder.path] + database)
            #expect(status == 0 && statusOutput.contains("pending 0, delivered \(ids.count)"), "\(statusOutput)")
            for process in running {
                process.terminate()
                _ = await process.exited()
            }

            let outcomes = try await store.query(
                "SELECT count(*)::int8, count(DISTINCT data->>'notificationId')::int8, count(DISTINCT event_id)::int8 FROM events WHERE event_type = 'NotificationDelivered'"
            )
            let (count, distinct, eventIds) = try outcomes[0].decode(Int.self, Int.self, Int.self)
            #expect(count == ids.count && distinct == ids.count && eventIds == ids.count)
            let deliveries = receiver.deliveries
            #expect(deliveries.allSatisfy { $0.refusal == nil }, "a delivery failed the signature check")
            // At least once: every id arrived; a kill between sending and recording sends again with the same id.
            let missing = ids.subtracting(deliveries.compactMap(\.id))
            #expect(missing.isEmpty, "\(missing.count) notifications never reached the receiver")
            let repeats = deliveries.count - ids.count
            #expect(repeats >= 0)
            let log = (try? String(contentsOf: logs, encoding: .utf8)) ?? ""
            #expect(!log.contains(secret.serialized()), "a worker logged the secret")
        }
    }

    /// Requests `count` notifications for the fulfilment lead across 60 journeys, in multi-stream
    /// appends of 250; returns their ids.
    static func request(_ count: Int, in store: EventStore) async throws -> Set<String> {
        var ids: Set<String> = []
        var pending: [String: [EventData]] = [:]
        for index in 0..<count {
            let journeyId = "kill-\(index % 60)"
            let cause = DerivedUUID.of(Data("kill-test-\(index)".utf8))
            let recipient = NotificationRecipient.role("fulfilment-lead")
            let request = NotificationEvent.Requested(
                notificationId: NotificationEvent.notificationId(cause: cause, recipient: recipient, template: "escalation-raised"), recipient: recipient,
                template: "escalation-raised", locale: "en",
                variables: [
                    "journey_id": .text(journeyId), "journey_type": .text("order-to-cash"), "customer_tier": .text("strategic"),
                    "stage": .text("fulfilment"), "reason": .text("sla_ladder"), "level": .text("1"), "escalated_at": .text("2026-12-06T08:00:00Z"),
                ],
                cause: .init(eventId: cause, kind: "escalation", reference: "kill-\(index)"),
                journey: .init(
                    journeyId: journeyId, journeyType: "order-to-cash", definitionVersion: "order-to-cash+0000000000000000", stage: "fulfilment",
                    department: "fulfilment", tier: "strategic"),
                requestedAt: Date())
            let event = NotificationEvent.requested(request)
            pending["journey-\(journeyId)", default: []].append(
                EventData(
                    id: NotificationEvent.requestEventId(notificationId: request.notificationId), type: event.type,
                    data: try event.encode(with: .standard, subject: nil), metadata: EventMetadata(correlationId: journeyId, actor: "kill-test")))
            ids.insert(request.notificationId)
            if (index + 1) % 250 == 0 || index == count - 1 {
                try await store.append(pending.keys.sorted().map { StreamAppend(to: $0, events: pending[$0]!) })
                pending = [:]
            }
        }
        return ids
    }
}
