import ArgumentParser
import Foundation
import WaymarkNotifications
import WaymarkPostgres
import WaymarkRuntime

struct NotificationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifications",
        abstract: "Deliver the notifications the log requests (signed webhooks, the log), and show the outbox.",
        subcommands: [Run.self, Status.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deliver requested notifications until SIGINT or SIGTERM; several workers may run at once, each outcome is recorded once.")
        @OptionGroup var options: ProcessManagerCommand.Options
        @Option(help: "Names this worker in `status` and in the escalations it raises (default: host:pid:random).") var worker: String?
        @Option(help: "Deliveries in flight at once (each endpoint also keeps its own limit).") var concurrency = 16
        @Option(help: "Attempts before a notification is given up and escalated.") var maxAttempts = 8
        @Option(help: "Seconds a claim holds: a worker that dies holds its claims this long (longer than any endpoint timeout).") var leaseSeconds = 150.0
        @Option(help: "Seconds before the first retry; each next one waits twice as long, up to --retry-cap-seconds.") var retryBaseSeconds = 2.0
        @Option(help: "The longest wait between retries, in seconds.") var retryCapSeconds = 600.0

        func validate() throws {
            guard concurrency >= 1, maxAttempts >= 1 else { throw ValidationError("--concurrency and --max-attempts must be at least 1") }
            guard leaseSeconds >= 1 else { throw ValidationError("--lease-seconds must be at least 1") }
            guard retryBaseSeconds > 0, retryCapSeconds >= retryBaseSeconds else {
                throw ValidationError("--retry-base-seconds must be positive and no larger than --retry-cap-seconds")
            }
        }

        func run() async throws {
            let delivery = DeliveryOptions(
                concurrency: concurrency, maxAttempts: maxAttempts,
                backoff: RetryBackoff(base: .milliseconds(Int64(retryBaseSeconds * 1000)), cap: .milliseconds(Int64(retryCapSeconds * 1000))),
                lease: .milliseconds(Int64(leaseSeconds * 1000)))
            try await options.withDatabase { database, logger in
                try await database.withNotifications(worker: worker, options: delivery) { services in
                    print("delivering notifications as \(services.worker.worker) on schema \(services.store.schema); Ctrl-C stops")
                    try await services.serviceGroup(logger: logger).run()
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Notifications by state, due and retrying, the oldest pending, and the workers (no DDL).")
        @OptionGroup var options: ProcessManagerCommand.Options

        func run() async throws {
            try await options.withDatabase { database, _ in
                let status = try await database.notificationStatus()
                let states = ["pending", "delivered", "suppressed", "failed"].map { "\($0) \(status.byState[$0] ?? 0)" }
                print("notifications: \(states.joined(separator: ", "))")
                print(
                    "due now: \(status.due), retrying: \(status.retrying), oldest pending since: \(status.oldestPending.map(TimestampText.iso8601) ?? "none")")
                if status.workers.isEmpty { print("no worker has run yet; start one with `waymark notifications run`") }
                for worker in status.workers {
                    print(
                        "worker \(worker.worker): started \(TimestampText.iso8601(worker.startedAt)), last seen \(TimestampText.iso8601(worker.seenAt)), delivered \(worker.delivered), failed \(worker.failed), suppressed \(worker.suppressed)"
                    )
                }
            }
        }
    }
}
