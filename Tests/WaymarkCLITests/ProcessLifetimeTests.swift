import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

/// Whether `pid` is a live process (a zombie waiting for its reaper is not).
func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}

/// The text of `path`, or "" when it does not exist yet.
private func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

/// Whether the database at `url` has the projections registry in `schema` yet: a `waymark
/// projections run` has then started and migrated (its output, to a file, is buffered).
private func migrated(_ url: String, _ schema: String) async -> Bool {
    let pool = PostgresPool(configuration: PostgresConfiguration(url: url), maxConnections: 1, logger: TestDatabase.quietLogger)
    defer { Task { await pool.close() } }
    let found = try? await pool.query("SELECT to_regclass(\(schema + ".projections")) IS NOT NULL")[0].decode(Bool.self, at: 0)
    return found ?? false
}

/// The processes whose parent is `parent` and whose command line holds `text`.
private func children(of parent: pid_t, holding text: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(pid_t.init).filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, pid_t(fields[1]) == parent, let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: command, as: UTF8.self).contains(text)
    }
}

/// Starts `waymark projections run` on the private server in `data`, schema `schema`, its output
/// into `output` (through the handle returned, which the caller closes once the process ended).
private func projectionsRun(data: String, schema: String, output: String) throws -> (Process, FileHandle) {
    let process = Process()
    process.executableURL = try waymarkBinary()
    process.arguments = ["projections", "run", "--data-dir", data, "--schema", schema, "--analytics-schema", schema + "_an", "--log-level", "warning"]
    process.environment = ProcessInfo.processInfo.environment.merging(["WAYMARK_EXIT_WITH_PARENT": "\(getpid())"]) { $1 }
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return (process, handle)
}

/// The private server's process in `data`, once its pid file is there.
private func serverPID(_ data: String) -> pid_t? {
    pid_t(text(data + "/postmaster.pid").split(separator: "\n").first ?? "")
}

/// The URL of the private server in `data` once its pid file names its port.
private func serverURL(_ data: String) -> String? {
    guard let port = text(data + "/postmaster.pid").split(separator: "\n", omittingEmptySubsequences: false).dropFirst(3).first, !port.isEmpty else {
        return nil
    }
    return "postgresql://waymark@127.0.0.1:\(port)/postgres"
}

@Suite("Processes a test starts end with it")
struct ProcessLifetimeTests {
    @Test("a `waymark projections run` whose parent is killed with SIGKILL ends too")
    func childEndsWithParent() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-orphan-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A shell stands in for a test process: it starts the command as the tests do, with
        // WAYMARK_EXIT_WITH_PARENT naming itself, and is then killed.
        let binary = try waymarkBinary().path
        let url = try TestDatabase.url()
        let schema = TestDatabase.uniqueSchemaName("orphan")
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = [
            "-c", "WAYMARK_EXIT_WITH_PARENT=$$ \"$0\" \"$@\" >\"$WM_FOLDER/out\" 2>&1 & echo $! >\"$WM_FOLDER/pid\"; wait", binary,
            "projections", "run", "--database-url", url, "--schema", schema, "--analytics-schema",
            TestDatabase.uniqueSchemaName("orphan_an"), "--log-level", "warning",
        ]
        shell.environment = ProcessInfo.processInfo.environment.merging(["WM_FOLDER": folder]) { $1 }
        shell.standardOutput = FileHandle.nullDevice
        shell.standardError = FileHandle.nullDevice
        try shell.run()
        try await eventually("the command to start and migrate schema \(schema)") { await migrated(url, schema) }
        let child = try #require(pid_t(text(folder + "/pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(child, SIGKILL) }
        #expect(isRunning(child))
        kill(shell.processIdentifier, SIGKILL)
        _ = await shell.exited()
        try await eventually("the orphaned command \(child) to end") { !isRunning(child) }
    }

    @Test("a `waymark` run killed with SIGKILL leaves the private server to another still using it; the last one's end stops it")
    func sharedServerOutlivesItsStarter() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-shared-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = folder + "/data"
        let (first, firstOutput) = try projectionsRun(data: data, schema: "first", output: folder + "/first")
        defer {
            kill(first.processIdentifier, SIGKILL)
            try? firstOutput.close()
        }
        try await eventually("the first command to start the server and migrate", timeout: .seconds(60)) {
            guard let url = serverURL(data) else { return false }
            return await migrated(url, "first")
        }
        let url = try #require(serverURL(data))
        let server = try #require(serverPID(data))
        defer { if isRunning(server) { kill(server, SIGQUIT) } }
        let (second, secondOutput) = try projectionsRun(data: data, schema: "second", output: folder + "/second")
        defer {
            kill(second.processIdentifier, SIGKILL)
            try? secondOutput.close()
        }
        try await eventually("the second command to join the server and migrate") { await migrated(url, "second") }

        let watchers = children(of: first.processIdentifier, holding: "waymark-postgres-watcher")
        #expect(watchers.count == 1, "the first command's server watchers: \(watchers)")
        kill(first.processIdentifier, SIGKILL)
        // Not `exited()`: Foundation reports a child's end only once every process holding a
        // descriptor the child inherited has let go of it, and the server the first command
        // started holds one and runs on.
        try await eventually("the first command to end") { !isRunning(first.processIdentifier) }
        // The first command's watcher decides when its process is gone; once it has ended, the
        // server must still serve the second.
        try await eventually("the first command's watcher to end") { watchers.allSatisfy { !isRunning($0) } }
        #expect(isRunning(server), "the server stopped with the first command while the second used it")
        #expect(await migrated(url, "second"))

        kill(second.processIdentifier, SIGKILL)
        try await eventually("the server \(server) to stop with its last user") { !isRunning(server) }
    }

    @Test("a `waymark` run killed with SIGKILL takes its private PostgreSQL server down with it")
    func serverEndsWithProcess() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-killed-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = folder + "/data"
        let (process, output) = try projectionsRun(data: data, schema: "killed", output: folder + "/out")
        defer {
            kill(process.processIdentifier, SIGKILL)
            try? output.close()
        }
        // initdb and a first start: give it the time of a slow server start.
        try await eventually("the command to start its server and migrate", timeout: .seconds(60)) {
            guard let url = serverURL(data) else { return false }
            return await migrated(url, "killed")
        }
        let server = try #require(serverPID(data))
        defer { if isRunning(server) { kill(server, SIGQUIT) } }
        #expect(isRunning(server))
        kill(process.processIdentifier, SIGKILL)
        // Not `exited()`, which would wait as long as the server (see the test above).
        try await eventually("the killed command to end") { !isRunning(process.processIdentifier) }
        try await eventually("the server \(server) of the killed command to stop") { !isRunning(server) }
    }
}
