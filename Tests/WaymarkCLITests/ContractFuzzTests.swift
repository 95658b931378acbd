import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import WaymarkTesting

/// Schemathesis (PyPI, installed by `scripts/test.sh`) against a running `waymark serve`, from the
/// served OpenAPI document, with a key of each role: every generated request (examples, boundary
/// values, fuzzed ones) gets an answer the contract allows, never a 5xx, and a request the
/// contract calls invalid is refused.
///
/// Schemathesis keeps both cores busy for a minute, which starves the timing of the tests running
/// beside it; `scripts/test.sh` runs it on its own after the rest (WAYMARK_CONTRACT_FUZZ=1).
@Suite(
    "The HTTP API against its contract (schemathesis)", .scaledTimeLimit(minutes: 8),
    .enabled(if: ProcessInfo.processInfo.environment["WAYMARK_CONTRACT_FUZZ"] == "1", "run on its own by scripts/test.sh"))
struct ContractFuzzTests {
    static var schemathesis: URL? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map {
            URL(fileURLWithPath: String($0)).appendingPathComponent("st")
        }
        return paths.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    @Test("schemathesis finds no 5xx and no reply outside the contract, for every role")
    func everyRole() async throws {
        let st = try #require(Self.schemathesis, "schemathesis is not installed: ./scripts/test.sh installs it (python3 -m pip install schemathesis)")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let schema = TestDatabase.uniqueSchemaName("stz")
        let database = ["--database-url", try TestDatabase.url(), "--schema", schema, "--log-level", "warning"]
        let (migrated, migrateOutput) = try await waymark(["migrate"] + database)
        #expect(migrated == 0, "\(migrateOutput)")
        var keys: [String: String] = [:]
        for role in ["service", "analyst", "operator", "admin"] {
            keys[role] = try await ServeCommandTests.createKey(["--role", role] + database)
        }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-st-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        // Rate limits off in effect: schemathesis sends hundreds of requests a second with one key.
        let server = try startWaymark(
            ["serve", "--port", "0", "--definitions", repository.appendingPathComponent("config").path] + database, output: log,
            environment: [
                "WAYMARK_SERVER_RATE_LIMIT": "1000000", "WAYMARK_SERVER_RATE_BURST": "1000000", "WAYMARK_ANALYTICS_SCHEMA": schema + "_analytics",
            ])
        try await whileRunning(server) {
            let base = try #require(try await ServeCommandTests.listening(log))
            // A journey to find, once the views are built.
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var start = HTTPClientRequest(url: base + "/v1/journeys/st-1/commands")
            start.method = .POST
            start.headers.add(name: "authorization", value: "Bearer \(keys["service"]!)")
            start.headers.add(name: "content-type", value: "application/json")
            start.body = .bytes(ByteBuffer(string: #"{"type":"start","customerId":"c-st","journeyType":"order-to-cash","tier":"standard"}"#))
            let started = try await http.execute(start, timeout: .seconds(30)).status.code
            let ready = try await eventually(timeout: .seconds(90)) {
                (try? await http.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(10)).status.code) == 200
            }
            try await http.shutdown()
            #expect(started == 201 && ready)

            for role in ["service", "analyst", "operator", "admin"] {
                let process = Process()
                process.executableURL = st
                process.arguments = [
                    "run", base + "/openapi.yaml", "-H", "Authorization: Bearer \(keys[role]!)",
                    "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection",
                    "--max-examples", "10", "--phases", "examples,coverage,fuzzing", "--workers", "1", "--seed", "20261206",
                    // Paced, so that the tests running beside it are not starved.
                    "--rate-limit", "150/s",
                    // Revoking keys and starting rebuilds at random would end the run's own access or
                    // load the machine; a live feed never ends. Each is tested on its own.
                    "--exclude-operation-id", "revokeKey", "--exclude-operation-id", "rebuildProjection",
                    "--exclude-operation-id", "followLog", "--exclude-operation-id", "followCategory",
                ]
                let output = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-st-\(role)-\(UUID().uuidString).txt")
                FileManager.default.createFile(atPath: output.path, contents: nil)
                defer { try? FileManager.default.removeItem(at: output) }
                let handle = try FileHandle(forWritingTo: output)
                process.standardOutput = handle
                process.standardError = handle
                process.environment = ProcessInfo.processInfo.environment.merging(["NO_COLOR": "1"]) { $1 }
                try process.run()
                let status = await process.exited()
                try handle.close()
                let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                #expect(status == 0, "schemathesis as \(role):\n\(text.suffix(6_000))")
            }
        }
    }
}
