import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

/// The built `waymark` binary, beside the test bundle or one folder up.
func waymarkBinary() throws -> URL {
    let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [folder, folder.deletingLastPathComponent()].map { $0.appendingPathComponent("waymark") }
    guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw PostgresError(code: PostgresError.invalidArgument, message: "the waymark binary was not found beside \(folder.path)")
    }
    return binary
}

/// Runs the built `waymark` binary (in `directory`, else this process's working directory) and
/// returns its exit code and everything it printed.
func waymark(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = try waymarkBinary()
    if let directory { process.currentDirectoryURL = directory }
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "WAYMARK_DATABASE_URL")
    for (key, value) in environment { env[key] = value }
    env["WAYMARK_EXIT_WITH_PARENT"] = "\(getpid())"
    process.environment = env
    // Into a file, not a pipe: a process started meanwhile by another test (the tests' own
    // PostgreSQL server) can inherit a pipe's writing end, and reading to its end then never ends.
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("waymark-output-\(UUID().uuidString)")
    guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
        throw PostgresError(code: PostgresError.invalidArgument, message: "cannot create \(file.path)")
    }
    defer { try? FileManager.default.removeItem(at: file) }
    let handle = try FileHandle(forWritingTo: file)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    let status = await process.exited()
    try handle.close()
    return (status, String(decoding: try Data(contentsOf: file), as: UTF8.self))
}

@Suite("The waymark command")
struct CLITests {
    @Test("a negative count gets the range error naming the option, not 'Missing value'")
    func negativeCount() async throws {
        let (status, output) = try await waymark(["bench", "append", "--events", "-5"])
        #expect(status != 0)
        #expect(output.contains("--events -5 is out of range"), "\(output)")
        #expect(!output.contains("Missing value"))
    }

    @Test("an unknown log level is refused with the levels there are")
    func unknownLogLevel() async throws {
        let (status, output) = try await waymark(["migrate", "--log-level", "loud"])
        #expect(status != 0)
        #expect(output.contains("'loud' is invalid for '--log-level"), "\(output)")
        #expect(output.contains("warning"))
    }

    @Test("a data directory that cannot be created is named with the system's reason")
    func badDataDirectory() async throws {
        let (status, output) = try await waymark(["migrate", "--data-dir", "/proc/nope/data"])
        #expect(status != 0)
        #expect(output.contains("--data-dir: /proc/nope/data: cannot create the data directory"), "\(output)")
        #expect(!output.contains("NSCocoaErrorDomain"))
    }

    @Test("a missing migrations folder is refused before any server starts")
    func missingMigrations() async throws {
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("wm-cli-\(UUID().uuidString)").path
        let (status, output) = try await waymark(["migrate", "--migrations", "/nonexistent", "--data-dir", dataDirectory])
        #expect(status != 0)
        #expect(output.contains("--migrations: no such folder /nonexistent"), "\(output)")
        #expect(!output.contains("WMPG") && !output.contains("migrations_unreadable"), "the CLI refuses it, not the database layer")
        #expect(!FileManager.default.fileExists(atPath: dataDirectory), "no server was created")
    }

    @Test("a database URL that is not one is refused by name, also from the environment")
    func notAURL() async throws {
        let (status, output) = try await waymark(["migrate", "--database-url", "not a url"])
        #expect(status != 0)
        #expect(output.contains("--database-url: 'not a url' is neither a PostgreSQL URL"), "\(output)")
        #expect(!output.contains(".s.PGSQL"))
        let (envStatus, envOutput) = try await waymark(["migrate"], environment: ["WAYMARK_DATABASE_URL": "nope"])
        #expect(envStatus != 0)
        #expect(envOutput.contains("WAYMARK_DATABASE_URL (database.url): 'nope' is neither"), "\(envOutput)")
    }

    @Test("a bad schema name shows the subcommand's usage, not the top level's")
    func badSchema() async throws {
        let (status, output) = try await waymark(["migrate", "--schema", "Bad-Schema"])
        #expect(status != 0)
        #expect(output.contains("schema name 'Bad-Schema' is not a plain identifier"), "\(output)")
        #expect(output.contains("Usage: waymark migrate"), "\(output)")
    }

    @Test("local status finds a running private server and local stop stops it")
    func localStatusAndStop() async throws {
        let cluster = try LocalPostgresCluster.startTemporary(prefix: "waymark-cli", logger: TestDatabase.quietLogger)
        defer { cluster.stop(removeData: true) }
        let (running, status) = try await waymark(["local", "status", "--data-dir", cluster.dataDirectory])
        #expect(running == 0, "\(status)")
        #expect(status.contains("running on 127.0.0.1:\(cluster.port)"), "\(status)")
        #expect(status.contains("url: postgresql://waymark@127.0.0.1:\(cluster.port)/postgres"))

        let (stopped, stopOutput) = try await waymark(["local", "stop", "--data-dir", cluster.dataDirectory])
        #expect(stopped == 0, "\(stopOutput)")
        #expect(stopOutput.contains("stopped the private PostgreSQL server"))
        let (notRunning, after) = try await waymark(["local", "status", "--data-dir", cluster.dataDirectory])
        #expect(notRunning == 3, "\(after)")
        #expect(after.contains("no private PostgreSQL server runs"))
    }
}
