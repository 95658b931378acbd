import ArgumentParser
import Foundation
import WaymarkClient
import WaymarkEventStore

/// Appends over HTTP driven by `wrk` (Debian's package, a C load generator that costs the machine
/// far less per request than a Swift client in the server's own process), beside the same appends
/// in process, for the same time each, in alternating rounds.
extension BenchHTTP {
    static var wrkPath: String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/wrk" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Rate {
        var perSecond: Double
        var p50: Double
        var p99: Double
    }

    func appendsWithWrk(_ caller: Caller, _ client: WaymarkClient) async throws {
        guard let wrk = Self.wrkPath else {
            print("appends via wrk: wrk is not installed (apt-get install wrk); the rows above stand alone")
            return
        }
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-bench-\(UUID().uuidString).lua")
        try Self.appendScript(key: caller.key).write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        for connections in [1, 16] {
            var http: [Rate] = []
            var local: [Rate] = []
            // plain, wrk, wrk, plain: drift hits both alike.
            for (round, isHTTP) in [false, true, true, false].enumerated() {
                let prefix = "r\(connections)x\(round)x\(UUID().uuidString.prefix(6))"
                if isHTTP {
                    let (base, seconds, path) = (caller.base, wrkSeconds, script.path)
                    // wrk is waited for on a thread of its own: a blocked executor thread could be
                    // one the server answers on (with WAYMARK_NIO_EXECUTOR=1 it is).
                    http.append(
                        try await withCheckedThrowingContinuation { continuation in
                            Thread.detachNewThread {
                                continuation.resume(
                                    with: Result {
                                        try Self.runWrk(wrk, script: path, url: base, connections: connections, seconds: seconds, prefix: prefix)
                                    })
                            }
                        })
                } else {
                    local.append(try await appendInProcess(client, writers: connections, seconds: wrkSeconds, prefix: prefix))
                }
            }
            let httpRate = http.map(\.perSecond).reduce(0, +) / Double(http.count)
            let localRate = local.map(\.perSecond).reduce(0, +) / Double(local.count)
            let ratio = httpRate / localRate
            let target = connections == 16 ? String(format: "(target ≥ 0.6) %@", ratio >= 0.6 ? "ok" : "BELOW TARGET") : "(no target)"
            print(
                "appends via wrk, \(connections) conn.".padding(toLength: 28, withPad: " ", startingAt: 0),
                String(
                    format: "HTTP %7.0f/s  p50 %6.3f ms  p99 %6.3f ms | in process %7.0f/s  p50 %6.3f ms  p99 %6.3f ms | ratio %.2f %@",
                    httpRate, http.map(\.p50).max() ?? 0, http.map(\.p99).max() ?? 0, localRate, local.map(\.p50).max() ?? 0, local.map(\.p99).max() ?? 0,
                    ratio, target as NSString))
        }
    }

    /// Each append goes to a stream of its own (a thread's connections share its counter, so
    /// streams shared between requests would make them wait on each other), named after the round.
    static func appendScript(key: String) -> String {
        """
        wrk.method = "POST"
        wrk.headers["Authorization"] = "Bearer \(key)"
        wrk.headers["Content-Type"] = "application/json"
        wrk.body = '{"events":[{"type":"ShipmentDelayed","data":{"journeyId":"j-1","orderId":"SO-1","delayHours":24},"metadata":{"correlationId":"j-1"}}]}'
        local threads = 0
        function setup(thread)
          thread:set("tid", threads)
          threads = threads + 1
        end
        function init(args)
          prefix = args[1]
          n = 0
        end
        function request()
          n = n + 1
          return wrk.format(nil, "/v1/streams/shipment-" .. prefix .. "t" .. tid .. "x" .. n .. "/events")
        end
        """
    }

    private static func runWrk(_ wrk: String, script: String, url: String, connections: Int, seconds: Int, prefix: String) throws -> Rate {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrk)
        process.arguments = ["-t\(min(connections, 2))", "-c\(connections)", "-d\(seconds)s", "--latency", "-s", script, url, "--", prefix]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, !output.contains("Non-2xx"), !output.contains("Socket errors"),
            let rate = Self.number(after: "Requests/sec:", in: output), let p50 = Self.latency("50%", in: output), let p99 = Self.latency("99%", in: output)
        else { throw ValidationError("wrk did not run cleanly (\(process.terminationStatus)):\n\(output.suffix(800))") }
        return Rate(perSecond: rate, p50: p50, p99: p99)
    }

    /// Appends like wrk's, from `writers` tasks, for `seconds`.
    private func appendInProcess(_ client: WaymarkClient, writers: Int, seconds: Int, prefix: String) async throws -> Rate {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(seconds)
        let started = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var mine: [Duration] = []
                    var index = 0
                    while clock.now < deadline {
                        let began = clock.now
                        _ = try await client.append(toStream: "shipment-\(prefix)l\(writer)x\(index)", expected: .any, events: [Self.delayed])
                        mine.append(clock.now - began)
                        index += 1
                    }
                    return mine
                }
            }
            var all: [Duration] = []
            for try await mine in group { all += mine }
            return all.sorted()
        }
        let elapsed = (clock.now - started).seconds
        return Rate(
            perSecond: Double(latencies.count) / elapsed, p50: latencies[latencies.count / 2].milliseconds,
            p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)].milliseconds)
    }

    static func number(after label: String, in output: String) -> Double? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains(label) }) else { return nil }
        return line.split(separator: " ").last.flatMap { Double($0) }
    }

    /// A latency line of `--latency` (`     99%    3.21ms`), in milliseconds.
    static func latency(_ percentile: String, in output: String) -> Double? {
        guard let line = output.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(percentile + " ") }),
            let text = line.split(separator: " ").last
        else { return nil }
        for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] where text.hasSuffix(unit) {
            if let value = Double(text.dropLast(unit.count)) { return value * scale }
        }
        return nil
    }
}
