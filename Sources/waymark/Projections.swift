import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkProjections
import WaymarkRuntime

struct Projections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run, inspect, retry and rebuild the read models behind the analytics views.",
        subcommands: [Run.self, Status.self, Retry.self, Skip.self, Rebuild.self])

    struct Options: ParsableArguments {
        @OptionGroup var runtime: RuntimeOptions
        @OptionGroup var definitions: DefinitionOptions

        @Option(help: "Schema of the analysts' views (projections.analytics_schema; default: analytics).")
        var analyticsSchema: String?

        @Option(
            help:
                "Most events per batch, one transaction with the checkpoint; live batches are as small as the traffic (projections.batch_size; default: 50000)."
        )
        var batchSize: Int?

        var overrides: [ConfigurationOverride] {
            definitions.overrides
                + [
                    analyticsSchema.map { ConfigurationOverride(key: "projections.analytics_schema", value: $0, option: "--analytics-schema") },
                    batchSize.map { ConfigurationOverride(key: "projections.batch_size", value: "\($0)", option: "--batch-size") },
                ].compactMap { $0 }
        }

        func validate() throws { try checkOptions(overrides) }

        /// The store and a runner of every projection, built by the runtime for `role`: `.projections`
        /// migrates first, `.projectionsAdmin` runs no DDL at all.
        func withRunner<T>(_ role: Role, _ body: (ProjectionServices, Logger) async throws -> T) async throws -> T {
            let runtime = try runtime.runtime(overrides)
            return try await runtime.withDatabase { database in
                try await database.withProjections(role) { services in try await body(services, runtime.logger) }
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep the projections up to date until SIGINT or SIGTERM; several may run, each projection is led by one at a time.")
        @OptionGroup var options: Options

        func run() async throws {
            try await options.withRunner(.projections) { services, logger in
                let runner = services.runner
                print("running projections \(runner.projections.map(\.name).joined(separator: ", ")) on schema \(runner.store.schema); Ctrl-C stops")
                try await services.serviceGroup(logger: logger).run()
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each projection build: state, checkpoint, lag in events and seconds, failure.")
        @OptionGroup var options: Options

        func run() async throws {
            try await options.withRunner(.projectionsAdmin) { services, _ in
                let runner = services.runner
                let status = try await runner.status()
                if status.isEmpty { print("no projection has run yet; start one with `waymark projections run`") }
                for entry in status {
                    let record = entry.record
                    print(
                        "\(record.name) v\(record.version) build \(record.build): \(record.state.rawValue), checkpoint \(entry.checkpoint), "
                            + "lag \(entry.lagEvents) events / \(String(format: "%.1f", entry.lagSeconds)) s, \(record.eventsHandled) handled, \(record.eventsIgnored) ignored (unknown types)"
                    )
                    if record.state == .failed {
                        print(
                            "  stopped at \(record.failedPosition.map { "\($0)" } ?? "?") (event \(record.failedEventId?.uuidString.lowercased() ?? "?")): \(record.error ?? "")"
                        )
                        print("  after a fix: waymark projections retry \(record.name)")
                        if let event = record.failedEventId {
                            print(
                                "  or, to go on without this event: waymark projections skip \(record.name) \(event.uuidString.lowercased()) --reason \"…\"")
                        }
                    }
                }
                for skip in try await runner.skips() {
                    print(
                        "\(skip.name) passes over event \(skip.eventId.uuidString.lowercased()) at \(skip.position): skipped by \(skip.skippedBy) "
                            + "at \(TimestampText.iso8601(skip.skippedAt)): \(skip.reason)")
                }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a projection that stopped on an event (after deploying a fix).")
        @OptionGroup var options: Options
        @Argument(help: "The projection's name.") var name: String

        func run() async throws {
            try await options.withRunner(.projectionsAdmin) { services, _ in
                let runner = services.runner
                let resumed = try await runner.retry(name)
                print(resumed == 0 ? "projection \(name) has no failed build" : "projection \(name): \(resumed) build(s) resume at the running runner")
            }
        }
    }

    struct Skip: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Go on without the event a projection stopped on (one it cannot read); recorded with who and why, and rebuilds pass over it too.")
        @OptionGroup var options: Options
        @Argument(help: "The projection's name.") var name: String
        @Argument(help: "The id of the event it stopped on (see `waymark projections status`).") var eventId: String
        @Option(help: "Why the event may be passed over; kept with the skip.") var reason: String
        @Option(help: "Who decided (default: the user running the command).")
        var by: String = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.userName

        func validate() throws {
            guard UUID(uuidString: eventId) != nil else { throw ValidationError("EVENT-ID '\(eventId)' is no event id (a UUID)") }
            guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--reason must say why") }
        }

        func run() async throws {
            try await options.withRunner(.projectionsAdmin) { services, _ in
                let runner = services.runner
                let resumed = try await runner.skip(name, event: UUID(uuidString: eventId)!, reason: reason, by: by)
                print("projection \(name) passes over event \(eventId.lowercased()); \(resumed) build(s) resume at the running runner")
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a projection again beside the live one and switch the views to it once it caught up; Ctrl-C leaves the live one untouched.")
        @OptionGroup var options: Options
        @Argument(help: "The projection's name.") var name: String

        func run() async throws {
            try await options.withRunner(.projections) { services, logger in
                let runner = services.runner
                let build = try await runner.requestRebuild(name)
                print("projection \(name): building build \(build)")
                let group = services.serviceGroup(logger: logger)
                // nil: interrupted; else whether the old build's tables are still there.
                let outcome = try await withThrowingTaskGroup(of: Bool?.self) { tasks in
                    tasks.addTask {
                        try await group.run()
                        return nil
                    }
                    tasks.addTask {
                        let finished = try await RebuildProgress(runner: runner, name: name, build: build).follow()
                        // The runner drops the old build's tables once its subscription has stopped,
                        // at its next round: give it a moment, then say what is so.
                        var leftovers = true
                        if finished {
                            let deadline = ContinuousClock.now + .seconds(3)
                            while leftovers, ContinuousClock.now < deadline {
                                leftovers = try await runner.retiredLeftoversRemain()
                                if leftovers { try await Task.sleep(for: .milliseconds(50)) }
                            }
                        }
                        await group.triggerGracefulShutdown()
                        return finished ? leftovers : nil
                    }
                    var outcome: Bool?
                    for try await result in tasks where result != nil { outcome = result }
                    return outcome
                }
                if let leftovers = outcome {
                    print(
                        leftovers
                            ? "projection \(name): build \(build) is live and the views read it; the old build is retired, and its tables stay until a runner (`waymark projections run`) drops them, once the old build's last batch has ended"
                            : "projection \(name): build \(build) is live, the views read it, and the old build's tables are dropped")
                } else {
                    print("projection \(name): interrupted; the live build is untouched, and a later rebuild starts clean")
                    throw ExitCode(130)
                }
            }
        }
    }
}

/// Follows a build until it is live, drawing a progress bar on a terminal and plain lines
/// otherwise: events done of the total, events/s, time left.
struct RebuildProgress {
    let runner: ProjectionRunner
    let name: String
    let build: Int

    /// True once the build is live; false when cancelled or interrupted first.
    func follow() async throws -> Bool {
        let terminal = isatty(STDOUT_FILENO) == 1
        let started = ContinuousClock.now
        var lastLine = ContinuousClock.now
        // Counting the events left reads them all: done once, then estimated from the events
        // handled since and those appended after the head of then (a count near the head).
        let head = try await runner.store.head().lastPosition ?? .start
        guard let first = try await runner.status(of: name, build: build) else { return false }
        var appended: (at: ContinuousClock.Instant, events: Int64) = (ContinuousClock.now, 0)
        while !Task.isCancelled {
            guard let record = try await runner.builds().first(where: { $0.name == name && $0.build == build }) else { return false }
            if ContinuousClock.now - appended.at >= .seconds(1) {
                appended = (ContinuousClock.now, try await runner.events(of: name, after: head))
            }
            // Ignored events (of types it does not know) are done as well.
            let done = record.eventsHandled + record.eventsIgnored
            let lag = max(0, first.lagEvents - (done - first.record.eventsHandled - first.record.eventsIgnored)) + appended.events
            if record.state == .live {
                if terminal { print("") }
                return true
            }
            if record.state == .failed {
                if terminal { print("") }
                print("build \(build) stopped at event \(record.failedEventId?.uuidString.lowercased() ?? "?"): \(record.error ?? "")")
                return false
            }
            let total = done + lag
            let seconds = max(0.001, (ContinuousClock.now - started).seconds)
            let rate = Double(done) / seconds
            let eta = rate > 0 ? Double(lag) / rate : 0
            let fraction = total == 0 ? 1 : Double(done) / Double(total)
            let figures = String(format: "%lld / %lld events, %.0f events/s, ETA %.0f s", done, total, rate, eta)
            if terminal {
                let width = 30
                let filled = Int(fraction * Double(width))
                print("\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(figures)   ", terminator: "")
                fflush(nil)
            } else if ContinuousClock.now - lastLine >= .seconds(2) {
                print("  \(figures)")
                lastLine = ContinuousClock.now
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
