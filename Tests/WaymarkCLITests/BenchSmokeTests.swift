import Foundation
import Testing
import WaymarkTesting

/// Each benchmark at its smallest sizes, on the tests' server: no figure is judged here (timed
/// tests are not how targets are checked), only that the benchmark runs to its end and prints its
/// rows. A bench that nothing runs can break silently: `bench http` once reused one event id for
/// every in-process append and stopped at its ninth append with an idempotency conflict.
///
/// Even at their smallest sizes the benches load both cores, which starved the timing of a
/// SIGKILL test beside them: `./scripts/test.sh` runs them on their own after the rest
/// (WAYMARK_ALONE_TESTS=1), one at a time.
@Suite(
    "waymark bench, smallest sizes", .scaledTimeLimit(minutes: 5), .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["WAYMARK_ALONE_TESTS"] == "1", "run on its own by scripts/test.sh"))
struct BenchSmokeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let bench: String
        let options: [String]
        /// The start of each row the run must print.
        let rows: [String]
        var testDescription: String { bench }
    }

    static let cases: [Case] = [
        Case(
            bench: "append", options: ["--events", "200", "--batches", "128", "--read-passes", "1"],
            rows: ["single event, 1 writer", "100-event batch, 16 writers", "global read"]),
        Case(
            bench: "read", options: ["--events", "100000", "--pages", "2", "--repeats", "1"],
            rows: ["global page, head", "category page, head", "category head / global head"]),
        Case(bench: "commands", options: ["--commands", "256"], rows: ["send, 1 client", "send, 16 clients"]),
        Case(
            bench: "projections", options: ["--events", "3000", "--seconds", "2", "--rate", "50", "--rebuilds", "0"],
            rows: ["build vs COPY", "append to visible in analytics.journeys"]),
        Case(bench: "process-manager", options: ["--deadlines", "200", "--window", "2"], rows: ["due within 2 s", "backlog: fired"]),
        Case(bench: "notifications", options: ["--notifications", "200"], rows: ["backlog: delivered", "steady at"]),
        Case(
            bench: "http", options: ["--operations", "256", "--live-events", "100", "--wrk-seconds", "1"],
            rows: [
                "GET /healthz", "appends, 1 connection", "appends, 16 connections", "commands, 1 connection", "commands, 16 connections", "live, 100 appends",
            ]),
        Case(bench: "console", options: ["--journeys", "100", "--requests", "5"], rows: ["/healthz (baseline)", "board", "journey", "operations"]),
    ]

    @Test("the bench runs to its end and prints its rows", arguments: cases)
    func runs(_ benchCase: Case) async throws {
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("bench")
        let (status, output) = try await waymark(
            ["bench", benchCase.bench, "--database-url", url, "--schema", schema, "--log-level", "warning"] + benchCase.options)
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for row in benchCase.rows {
            #expect(lines.contains { $0.hasPrefix(row) }, "no row starting \(row): \(output)")
        }
    }
}
