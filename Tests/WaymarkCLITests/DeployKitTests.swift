import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import WaymarkTesting

/// The operations kit in `deploy/`: the Prometheus configuration and alert rules load in promtool
/// (Debian's `prometheus` package, which `./scripts/test.sh` installs) and their unit tests pass,
/// the Grafana dashboard is importable JSON, and every metric the dashboard and the rules name is
/// exported by a running `waymark serve`.
/// A simulation, a server and promtool's 28-day rule test keep both cores busy: `./scripts/test.sh`
/// runs this on its own after the rest (WAYMARK_ALONE_TESTS=1).
@Suite(
    "deploy/: Prometheus, alerts and the Grafana dashboard", .scaledTimeLimit(minutes: 5),
    .enabled(if: ProcessInfo.processInfo.environment["WAYMARK_ALONE_TESTS"] == "1", "run on its own by scripts/test.sh"))
struct DeployKitTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let deploy = repository.appendingPathComponent("deploy")

    /// The metric names an expression text mentions, without a histogram's `_bucket`, `_sum` and `_count`.
    static func metricNames(_ text: String) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: "waymark_[a-z0-9_]+")
        let names = regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) }
        return Set(
            names.map { name in
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
                return name
            })
    }

    static func run(_ executable: String, _ arguments: [String], in directory: URL) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        return try await process.runCollectingOutput()
    }

    @Test("promtool loads the configuration and the rules, and the rules' unit tests pass")
    func promtool() async throws {
        let promtool = try #require(
            ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "promtool is missing: apt-get install prometheus (./scripts/test.sh does)")
        let folder = Self.deploy.appendingPathComponent("prometheus")
        for arguments in [["check", "rules", "alerts.yml"], ["test", "rules", "alerts-test.yml"], ["check", "config", "--syntax-only", "prometheus.yml"]] {
            let (status, output) = try await Self.run(promtool, arguments, in: folder)
            #expect(status == 0, "promtool \(arguments.joined(separator: " ")):\n\(output)")
        }
    }

    @Test("every metric the dashboard and the alert rules name is exported by a running waymark serve")
    func metricsExported() async throws {
        let dashboardText = try String(contentsOf: Self.deploy.appendingPathComponent("grafana/waymark-dashboard.json"), encoding: .utf8)
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(dashboardText.utf8)) as? [String: Any])
        let panels = dashboard["panels"] as? [[String: Any]] ?? []
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(expressions.count >= 12, "the dashboard has too few queries")
        let rules = try String(contentsOf: Self.deploy.appendingPathComponent("prometheus/alerts.yml"), encoding: .utf8)
        let wanted = Self.metricNames(expressions.joined(separator: "\n") + "\n" + rules)
        #expect(wanted.count >= 12, "\(wanted.sorted())")

        // A day of simulated journeys: completions, feedback, handoffs, stalls; the process manager
        // beside the server adds SLA crossings, escalations and notifications.
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("kit")
        let config = Self.repository.appendingPathComponent("config").path
        let database = ["--database-url", url, "--schema", schema, "--log-level", "warning"]
        #expect(try await waymark(["migrate"] + database).0 == 0)
        let (simulated, simulateOutput) = try await waymark(["simulate", "--journeys", "120", "--days", "2", "--definitions", config] + database)
        #expect(simulated == 0, "\(simulateOutput)")
        let operatorKey = try await ServeCommandTests.createKey(["--role", "operator"] + database)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-kit-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let server = try startWaymark(
            ["serve", "--port", "0", "--instance", "kit", "--definitions", config] + database, output: log,
            environment: ["WAYMARK_ANALYTICS_SCHEMA": schema + "_analytics"])
        defer { server.terminate() }
        let base = try #require(try await ServeCommandTests.listening(log))
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        var missing: [String] = []
        do {
            // Requests of its own, so the HTTP histogram has samples.
            _ = try await http.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(10))
            _ = try await eventually(timeout: .seconds(120)) {
                var request = HTTPClientRequest(url: base + "/metrics")
                request.headers.add(name: "authorization", value: "Bearer \(operatorKey)")
                let response = try await http.execute(request, timeout: .seconds(30))
                let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
                let exported = Set(
                    text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
                missing = wanted.subtracting(exported).sorted()
                return missing.isEmpty
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        #expect(missing.isEmpty, "named in deploy/ but not exported: \(missing)\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }
}
