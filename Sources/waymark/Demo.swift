import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WaymarkEventStore
import WaymarkPostgres

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Migrate, then append and read a few customer journeys: streams, conflicts, retries, categories, the global log and a subscription.")

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Leave the private local server running afterwards.")
    var keepRunning = false

    func run() async throws {
        try await withDatabase(database, keepRunning: keepRunning) { url in
            print("database: \(PostgresConnection.redactedURL(url)), schema \(database.schema)")
            let applied = try await migrate(url: url, schema: database.schema, logger: database.logger, directory: nil)
            print("migrations applied now: \(applied.isEmpty ? "none (up to date)" : applied.map(\.fileName).joined(separator: ", "))")
            let store = try EventStore.connect(url: url, schema: database.schema, maxConnections: 4, logger: database.logger)
            do {
                try await runDemo(store)
            } catch {
                await store.close()
                throw error
            }
        }
    }

    func runDemo(_ store: EventStore) async throws {
        let run = String(UUID().uuidString.prefix(8)).lowercased()
        let journey = "journey-\(run)"
        let customer = "customer-\(run)"

        print("\n1. A journey across departments, appended with optimistic concurrency")
        let started = EventData(
            type: "JourneyStarted", data: #"{"customer":"\#(customer)","tier":"gold","journeyType":"new-business"}"#,
            metadata: EventMetadata(correlationId: journey, actor: "crm-sync", sourceSystem: "crm"))
        let first = try await store.append(to: journey, expected: .noStream, events: [started])
        var version = first.streamVersion
        let steps: [(String, String, String)] = [
            ("MilestoneReached", #"{"milestone":"contract-signed","department":"sales"}"#, "crm"),
            ("HandedOff", #"{"from":"sales","to":"onboarding"}"#, "crm"),
            ("HandoffAccepted", #"{"department":"onboarding","by":"ana"}"#, "onboarding-portal"),
            ("MilestoneReached", #"{"milestone":"kickoff-held","department":"onboarding"}"#, "onboarding-portal"),
        ]
        for (type, data, source) in steps {
            let result = try await store.append(
                to: journey, expected: .exact(version),
                events: [
                    EventData(
                        type: type, data: data,
                        metadata: EventMetadata(
                            correlationId: journey, causationId: first.events[0].id.uuidString.lowercased(), actor: "demo", sourceSystem: source))
                ])
            version = result.streamVersion
        }
        try await store.append(to: customer, expected: .noStream, events: [EventData(type: "CustomerRegistered", data: #"{"name":"Acme GmbH","tier":"gold"}"#)])
        print("   \(journey) is at version \(version)")

        print("\n2. A writer with a stale expected version is refused")
        do {
            try await store.append(to: journey, expected: .exact(2), events: [EventData(type: "MilestoneReached", data: #"{"milestone":"late"}"#)])
        } catch let conflict as WrongExpectedVersionError {
            print("   refused: \(conflict.message)")
        }

        print("\n3. A retried append (same event ids) returns the original positions and writes nothing")
        let batch = [
            EventData(type: "MilestoneReached", data: #"{"milestone":"first-delivery","department":"fulfilment"}"#),
            EventData(type: "FeedbackReceived", data: #"{"csat":5}"#),
        ]
        let original = try await store.append(to: journey, expected: .exact(version), events: batch)
        let retried = try await store.append(to: journey, expected: .exact(version), events: batch)
        print("   first: versions \(original.events.map(\.streamVersion)), replayed: \(original.replayed)")
        print("   retry: versions \(retried.events.map(\.streamVersion)), replayed: \(retried.replayed), same positions: \(original.events == retried.events)")

        print("\n4. Bad input is refused and stores nothing")
        for (stream, events) in [("journey with spaces", [EventData(type: "X", data: "{}")]), (journey, [EventData(type: "Broken", data: "{not json")])] {
            do {
                try await store.append(to: stream, events: events)
            } catch let error as EventStoreError {
                print("   \(error.code.rawValue): \(error.message)")
            }
        }

        print("\n5. The stream, forward and backward")
        for event in try await store.readStream(journey).events {
            print(
                "   v\(event.streamVersion) \(event.type.padding(toLength: 18, withPad: " ", startingAt: 0)) \(event.data)  [source: \(event.metadata.sourceSystem ?? "-")]"
            )
        }
        let latest = try await store.readStream(journey, direction: .backward, limit: 2)
        print("   latest two: \(latest.events.map { "v\($0.streamVersion) \($0.type)" }.joined(separator: ", "))")

        print("\n6. The journey category and the global log, in commit order")
        var journeysInCategory = 0
        var position = GlobalPosition.start
        while true {
            let page = try await store.readCategory("journey", after: position, limit: 500)
            journeysInCategory += page.events.count
            position = page.nextPosition
            if page.isEnd { break }
        }
        let global = try await store.readAll(after: .start, limit: 10_000)
        print("   category 'journey': \(journeysInCategory) events; global log: \(global.events.count) events up to position \(global.nextPosition)")

        print("\n7. A durable subscription catches up from its checkpoint")
        let counted = Counter()
        let subscription = try CatchUpSubscription(store: store, name: "demo-milestones", source: .category("journey"), logger: database.logger) {
            events, transaction in
            let milestones = events.filter { $0.type == "MilestoneReached" }.count
            transaction.afterCommit { counted.add(milestones) }
        }
        let before = try await subscription.checkpoint()
        // The store and the subscription run as services; graceful shutdown stops the subscription,
        // then the store, which closes its pool.
        let services = ServiceGroup(configuration: .init(services: [.init(service: store), .init(service: subscription)], logger: database.logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            let caughtUp = try await subscription.waitUntilCaughtUp(timeout: .seconds(10))
            print("   checkpoint \(before) -> \(try await subscription.checkpoint()); caught up: \(caughtUp); milestones seen in this run: \(counted.value)")
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        print("\ndone.")
    }
}

/// A counter shared with a subscription handler.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add(_ value: Int) { count.withLock { $0 += value } }
    var value: Int { count.withLock { $0 } }
}
