import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

/// Whether a server answers a query at `url`.
private func answers(_ url: String) async -> Bool {
    guard let connection = try? await PostgresConnection.connect(PostgresConfiguration(url: url)) else { return false }
    defer { Task { await connection.close() } }
    return (try? await connection.query("SELECT 1")) != nil
}

@Suite("A private server shared by several processes")
struct SharedServerTests {
    @Test("the last user to leave the private server stops it, not the one that started it; a server kept running is left to a stop by hand")
    func lastUserStops() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-shared-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if geteuid() == 0 { chmod(folder, 0o755) }
        let data = folder + "/data"
        defer {
            try? LocalPostgresCluster.running(dataDirectory: data)?.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }
        let logger = TestDatabase.quietLogger
        func join() throws -> LocalPostgresCluster {
            try LocalPostgresCluster.start(dataDirectory: data, settings: LocalPostgresCluster.testSettings, logger: logger)
        }

        // Each object stands for a process: the users' locks are per open file, as between processes.
        let first = try join()
        let second = try join()
        #expect(first.startedHere && !second.startedHere && second.port == first.port)
        first.stop()
        #expect(try LocalPostgresCluster.running(dataDirectory: data) != nil, "the first to leave stopped a server another still uses")
        #expect(await answers(second.url))
        second.stop()
        #expect(try LocalPostgresCluster.running(dataDirectory: data) == nil, "the last to leave left the server running")

        // One arriving later starts it again; kept running, it outlives its users.
        let kept = try join()
        #expect(kept.startedHere)
        try kept.keepRunning()
        let other = try join()
        other.stop()
        kept.stop()
        let running = try #require(try LocalPostgresCluster.running(dataDirectory: data), "a server kept running was stopped")
        #expect(await answers(running.url))
        running.stop()
        #expect(try LocalPostgresCluster.running(dataDirectory: data) == nil)
        // Stopped by hand, it is no longer kept: its next last user stops it.
        let again = try join()
        again.stop()
        #expect(try LocalPostgresCluster.running(dataDirectory: data) == nil)
        // Nor does a marker left behind by a kept server that ended otherwise (a reboot) keep the next one.
        #expect(FileManager.default.createFile(atPath: data + ".kept", contents: Data()))
        let afterReboot = try join()
        #expect(afterReboot.startedHere)
        afterReboot.stop()
        #expect(try LocalPostgresCluster.running(dataDirectory: data) == nil, "a stale marker kept a new server running")
    }
}
