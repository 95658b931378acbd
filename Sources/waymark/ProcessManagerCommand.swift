import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkRuntime

struct ProcessManagerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "process-manager",
        abstract: "Run the process manager (stalls, SLA crossings, escalation ladders), show its deadlines, rebuild them from the log.",
        subcommands: [Run.self, Status.self, Rebuild.self])

    struct Options: ParsableArguments {
        @OptionGroup var runtime: RuntimeOptions
        @OptionGroup var definitions: DefinitionOptions

        var overrides: [ConfigurationOverride] { definitions.overrides }

        func validate() throws { try checkOptions(overrides) }

        func withDatabase<T>(_ body: (RuntimeDatabase, Logger) async throws -> T) async throws -> T {
            let runtime = try runtime.runtime(overrides)
            return try await runtime.withDatabase { database in try await body(database, runtime.logger) }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Schedule and fire deadlines until SIGINT or SIGTERM; several may run at once, each deadline fires once.")
        @OptionGroup var options: Options
        @Option(help: "Names this instance in the events it records and in `status` (default: host:pid:random).") var instance: String?

        func run() async throws {
            try await options.withDatabase { database, logger in
                try await database.withProcessManager(instance: instance) { services in
                    print(
                        "running the process manager \(services.processManager.instance) on schema \(services.store.schema); Ctrl-C stops")
                    try await services.serviceGroup(logger: logger).run()
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pending deadlines by kind, overdue count, oldest overdue, last fired, instances and what each fired (no DDL).")
        @OptionGroup var options: Options

        func run() async throws {
            try await options.withDatabase { database, _ in
                let status = try await database.processManagerStatus()
                print("pending deadlines: \(status.pending), overdue: \(status.overdue)")
                for kind in status.kinds { print("  \(kind.kind): \(kind.pending) pending, \(kind.overdue) overdue") }
                print("oldest overdue: \(status.oldestOverdue.map(TimestampText.iso8601) ?? "none")")
                print("last fired: \(status.lastFired.map(TimestampText.iso8601) ?? "never")")
                if status.instances.isEmpty { print("no process manager has run yet; start one with `waymark process-manager run`") }
                for instance in status.instances {
                    print(
                        "instance \(instance.instance): started \(TimestampText.iso8601(instance.startedAt)), last seen \(TimestampText.iso8601(instance.seenAt)), fired \(instance.fired)"
                    )
                }
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Drop the deadline table and derive it again from the log (at the running process managers); deadlines whose events are in the log count as fired."
        )
        @OptionGroup var options: Options

        func run() async throws {
            try await options.withDatabase { database, _ in
                try await database.rebuildProcessManager()
                print("process manager state dropped; a running `waymark process-manager run` derives it again from the log")
            }
        }
    }
}
