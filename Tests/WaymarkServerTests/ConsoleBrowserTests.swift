import Foundation
import ServiceLifecycle
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkServer
import WaymarkTesting

/// The console in a real browser: Debian's chromium driven by Selenium (`Tests/Browser/console_browser.py`),
/// against a server with the console, the projections running (so the board moves), a stalled
/// journey and an open escalation. Screenshots go to `.build/test-output/console/`.
/// `./scripts/test.sh` installs chromium, chromium-driver and Selenium, and runs this on its own after
/// the rest (WAYMARK_ALONE_TESTS=1): chromium keeps both cores busy, which starves the timing of
/// the tests beside it.
@Suite(
    "Console in a browser", .scaledTimeLimit(minutes: 6),
    .enabled(if: ProcessInfo.processInfo.environment["WAYMARK_ALONE_TESTS"] == "1", "run on its own by scripts/test.sh"))
struct ConsoleBrowserTests {
    @Test("board highlights a stalled journey and updates live; an analyst is refused operations; a countdown moves; an operator acknowledges")
    func browser() async throws {
        try await ServerFixture.run(console: true) { fixture in
            try await ConsoleTests.seed(fixture)
            // The low CSAT of o-1 is escalated at once by the process manager.
            let manager = try ViewRoutesTests.processManager(fixture)
            try await withServices([manager]) {
                let raised = try await eventually(timeout: .seconds(60)) {
                    try await fixture.store.readStream("journey-o-1").events.contains { $0.type == "EscalationRaised" }
                }
                #expect(raised)
            }
            try await fixture.catchUpProjections()
            let screenshots = repositoryDirectory.appendingPathComponent(".build/test-output/console").path
            let operatorKey = fixture.key(.operator)
            let (status, output) = try await withServices([fixture.runner]) {
                try await Self.python(
                    repositoryDirectory.appendingPathComponent("Tests/Browser/console_browser.py").path,
                    environment: [
                        "WAYMARK_URL": fixture.base, "OPERATOR_KEY": operatorKey, "ANALYST_KEY": fixture.key(.analyst),
                        "SERVICE_KEY": fixture.key(.service), "STALLED_JOURNEY": "o-stalled", "ESCALATED_JOURNEY": "o-1", "JOURNEY_TYPE": "order-to-cash",
                        "CONSENT_SUBJECT": "c-1", "SCREENSHOTS": screenshots,
                    ])
            }
            #expect(status == 0, "the browser run failed:\n\(output)")
            for check in [
                "stalled journey is highlighted", "board updates live", "role without access is refused", "countdown moves", "acknowledged from the page",
            ] {
                #expect(output.contains(check), "no '\(check)' in:\n\(output)")
            }
            // The click reached the log: acknowledged by the operator's key, from the console.
            let acknowledged = try await fixture.store.readStream("journey-o-1").events.first { $0.type == "EscalationAcknowledged" }
            #expect(acknowledged?.metadata.sourceSystem == "waymark-console")
            #expect(acknowledged?.metadata.actor == String(operatorKey.split(separator: "_")[1]))
            for name in ["board", "journey", "sla", "escalations", "operations"] {
                #expect(FileManager.default.fileExists(atPath: "\(screenshots)/\(name).png"), "no screenshot of \(name)")
            }
        }
    }

    /// Runs a Python script; its exit status and what it printed (both streams).
    static func python(_ script: String, environment: [String: String]) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        return try await process.runCollectingOutput()
    }
}
