import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import WaymarkTesting

/// The whole platform and the simulator keep both cores busy for a minute: `./scripts/test.sh` runs
/// this on its own after the rest (WAYMARK_ALONE_TESTS=1).
@Suite(
    "waymark demo, the main job", .scaledTimeLimit(minutes: 5),
    .enabled(if: ProcessInfo.processInfo.environment["WAYMARK_ALONE_TESTS"] == "1", "run on its own by scripts/test.sh"))
struct DemoCommandTests {
    @Test("the demo prints the console and keys that work, fills the views from the simulator, keeps writing, and stops cleanly on SIGINT")
    func liveDemo() async throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("live")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-demo-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let demo = try startWaymark(
            [
                "demo", "--port", "0", "--history", "60", "--for", "10m", "--database-url", url, "--schema", schema, "--log-level", "warning",
                "--definitions", repository.appendingPathComponent("config").path,
            ], output: log, environment: ["WAYMARK_ANALYTICS_SCHEMA": schema + "_analytics"])
        var banner: [String: String] = [:]
        let printed = try await eventually(timeout: .seconds(90)) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                if line.hasPrefix("  console "), words.count > 1 { banner["console"] = String(words[1]) }
                if line.hasPrefix("  operator key "), words.count > 2 { banner["operator"] = String(words[2]) }
                if line.hasPrefix("  analyst key "), words.count > 2 { banner["analyst"] = String(words[2]) }
            }
            return banner.count == 3
        }
        #expect(printed, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        let console = try #require(banner["console"])
        let base = String(console.dropLast("/console".count))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            func get(_ path: String, key: String, cookie: Bool = false) async throws -> (Int, String) {
                var request = HTTPClientRequest(url: base + path)
                request.headers.add(name: cookie ? "cookie" : "authorization", value: cookie ? "waymark_console=\(key)" : "Bearer \(key)")
                let response = try await http.execute(request, timeout: .seconds(30))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 8 << 20)))
            }
            // The simulator's history reaches the views, and later rounds keep adding journeys.
            var journeys = 0
            let filled = try await eventually(timeout: .seconds(120)) {
                let (status, body) = try await get("/v1/journeys?limit=500", key: try #require(banner["analyst"]))
                journeys = body.components(separatedBy: "\"journeyId\"").count - 1
                return status == 200 && journeys >= 60
            }
            #expect(filled, "only \(journeys) journeys in the views")
            let grew = try await eventually(timeout: .seconds(60)) {
                let (_, body) = try await get("/v1/journeys?limit=500", key: try #require(banner["analyst"]))
                return body.components(separatedBy: "\"journeyId\"").count - 1 > journeys
            }
            #expect(grew, "no new journeys after the history")
            // The minutes-long demo type, played as it happens: journeys stall, clocks breach and
            // escalations go out while a person watches (its first-response SLA is 45 s).
            let analyst = try #require(banner["analyst"])
            var live: [String: Bool] = [:]
            let happened = try await eventually(timeout: .seconds(150)) {
                for (what, path) in [
                    ("stalled", "/v1/journeys?type=express-repair&status=stalled&limit=1"),
                    ("breached", "/v1/sla?type=express-repair&everBreached=true&limit=1"),
                    ("escalated", "/v1/escalations?type=express-repair&limit=1"),
                ] where live[what] != true {
                    let (status, body) = try await get(path, key: analyst)
                    live[what] = status == 200 && body.contains("\"journeyId\"")
                }
                return live.values.allSatisfy { $0 } && live.count == 3
            }
            #expect(happened, "express-repair: \(live)")
            let (boardStatus, board) = try await get("/console/board", key: try #require(banner["operator"]), cookie: true)
            #expect(boardStatus == 200 && board.contains("class=\"card"), "\(board.prefix(500))")
            let (operations, _) = try await get("/console/operations", key: try #require(banner["operator"]), cookie: true)
            #expect(operations == 200)
        } catch {
            try? await http.shutdown()
            demo.terminate()
            throw error
        }
        try await http.shutdown()
        kill(demo.processIdentifier, SIGINT)
        _ = await demo.exited()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(demo.terminationStatus == 0, "\(output)")
        #expect(output.contains("stopped; the receiver verified"), "\(output)")
        #expect(output.contains("webhook receiver: ") && output.contains("every signature valid"), "\(output)")
    }
}
