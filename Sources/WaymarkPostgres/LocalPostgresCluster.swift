import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL server on loopback, in a folder of its own: what the demo, the benchmark
/// and the tests use when no database URL is given.
///
/// Several processes may use one server: the first starts it, the others reuse it, and the last
/// to stop using it stops it (see `ServerUsers`), unless it is kept running on purpose.
///
/// `initdb` creates the cluster on first use (trust authentication, user `waymark`, UTF-8, C
/// locale); the server listens on 127.0.0.1 only, with Unix sockets off. When run as root, the
/// server runs as the `postgres` system user, which PostgreSQL requires.
public final class LocalPostgresCluster: Sendable {
    public let dataDirectory: String
    public let port: Int
    public let binDirectory: String
    /// Whether this object started the server.
    public let startedHere: Bool
    private let runAsUser: String?
    /// This process's place among the server's users (a locked file), until `stop()`; nil for a
    /// server found by `running(dataDirectory:)`.
    private let usage: Mutex<Int32?>
    private let stopped = Mutex(false)
    private let watcher = Mutex<ServerWatcher?>(nil)

    /// The superuser URL of the cluster's `postgres` database.
    public var url: String { "postgresql://waymark@127.0.0.1:\(port)/postgres" }

    private init(dataDirectory: String, port: Int, binDirectory: String, startedHere: Bool, runAsUser: String?, usage: Int32?) {
        self.dataDirectory = dataDirectory
        self.port = port
        self.binDirectory = binDirectory
        self.startedHere = startedHere
        self.runAsUser = runAsUser
        self.usage = Mutex(usage)
    }

    /// Settings for a throwaway test cluster: durability off, room for many connections.
    public static let testSettings: [String: String] = [
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        "max_connections": "800", "shared_buffers": "128MB",
    ]

    /// Settings for the demo and benchmark cluster: PostgreSQL's durable defaults, more connections.
    public static let durableSettings: [String: String] = ["max_connections": "200", "shared_buffers": "256MB"]

    /// Starts (creating if need be) the cluster in `dataDirectory`. If a server already runs there,
    /// it is reused and `startedHere` is false; either way this process counts among its users
    /// until `stop()`. The server listens on `port` when given (for example to come back where
    /// clients expect it after a restart), else on a free one.
    public static func start(
        dataDirectory: String, settings: [String: String] = durableSettings, port fixedPort: Int? = nil,
        logger: Logger
    ) throws -> LocalPostgresCluster {
        let binDirectory = try findBinDirectory()
        let runAsUser: String? = geteuid() == 0 ? "postgres" : nil
        let directory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        let fileManager = FileManager.default
        let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
        do {
            try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw cannotCreate(directory, error)
        }
        // Joined before anything else: a process stopping the server as its last user finishes
        // first, and this one then starts a new server.
        let usage = try ServerUsers.join(directory)
        do {
            return try startJoined(
                directory: directory, binDirectory: binDirectory, runAsUser: runAsUser, settings: settings, port: fixedPort, usage: usage, logger: logger)
        } catch {
            close(usage)
            throw error
        }
    }

    private static func startJoined(
        directory: String, binDirectory: String, runAsUser: String?, settings: [String: String], port fixedPort: Int?, usage: Int32, logger: Logger
    ) throws -> LocalPostgresCluster {
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: directory + "/PG_VERSION") {
            do {
                if !fileManager.fileExists(atPath: directory) {
                    try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                }
            } catch {
                throw cannotCreate(directory, error)
            }
            if let runAsUser { try changeOwner(directory, to: runAsUser) }
            logger.info("creating a private PostgreSQL cluster", metadata: ["waymark.postgres.data_directory": "\(directory)"])
            try run(
                binDirectory + "/initdb",
                ["-D", directory, "-U", "waymark", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"],
                as: runAsUser)
        }

        if let port = runningPort(dataDirectory: directory, binDirectory: binDirectory, as: runAsUser) {
            logger.info("reusing the private PostgreSQL server already running", metadata: ["waymark.postgres.port": "\(port)"])
            return LocalPostgresCluster(
                dataDirectory: directory, port: port, binDirectory: binDirectory, startedHere: false, runAsUser: runAsUser, usage: usage)
        }

        // A marker left by a kept server that ended otherwise (a reboot) does not keep this one.
        ServerUsers.forgetKept(directory)
        var lastError: Error?
        for _ in 0..<(fixedPort == nil ? 3 : 1) {
            let port = try fixedPort ?? freeLoopbackPort()
            var options = [
                "-c listen_addresses=127.0.0.1", "-c port=\(port)", "-c unix_socket_directories=''",
            ]
            for (key, value) in settings.sorted(by: { $0.key < $1.key }) { options.append("-c \(key)=\(value)") }
            do {
                try run(
                    binDirectory + "/pg_ctl",
                    ["-D", directory, "-l", directory + "/server.log", "-w", "-t", "60", "-o", options.joined(separator: " "), "start"],
                    as: runAsUser)
                logger.info(
                    "started a private PostgreSQL server", metadata: ["waymark.postgres.port": "\(port)", "waymark.postgres.data_directory": "\(directory)"])
                return LocalPostgresCluster(
                    dataDirectory: directory, port: port, binDirectory: binDirectory, startedHere: true, runAsUser: runAsUser, usage: usage)
            } catch {
                lastError = error
                if fixedPort == nil {
                    logger.warning("the private PostgreSQL server did not start, retrying on another port", metadata: ["waymark.postgres.error": "\(error)"])
                }
            }
        }
        throw lastError!
    }

    /// The server running in `dataDirectory`, if one is. `stop()` on it stops that server, whoever
    /// started it and whoever uses it, also one kept running (`waymark local stop`).
    public static func running(dataDirectory: String) throws -> LocalPostgresCluster? {
        let binDirectory = try findBinDirectory()
        let runAsUser: String? = geteuid() == 0 ? "postgres" : nil
        let directory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        guard let port = runningPort(dataDirectory: directory, binDirectory: binDirectory, as: runAsUser) else { return nil }
        return LocalPostgresCluster(dataDirectory: directory, port: port, binDirectory: binDirectory, startedHere: true, runAsUser: runAsUser, usage: nil)
    }

    private static func cannotCreate(_ directory: String, _ error: Error) -> PostgresError {
        PostgresError(
            code: PostgresError.invalidArgument,
            message: "cannot create the data directory \(directory) for the private PostgreSQL server (\(reason(error)))")
    }

    /// A short reason for a file-system error: the system's words, not Foundation's error domain.
    static func reason(_ error: Error) -> String {
        if let cocoa = error as? CocoaError, let underlying = cocoa.underlying as? POSIXError {
            return String(cString: strerror(underlying.code.rawValue))
        }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        return (error as NSError).localizedDescription
    }

    /// Creates a fresh temporary directory (under `$TMPDIR` or /tmp) and starts a cluster there.
    public static func startTemporary(
        prefix: String = "waymark-pg", settings: [String: String] = testSettings, port: Int? = nil, logger: Logger
    ) throws -> LocalPostgresCluster {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array((base + "/\(prefix)-XXXXXX").utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PostgresError(code: PostgresError.invalidArgument, message: "cannot create a temporary directory under \(base)")
        }
        let temporary = String(cString: created)
        if geteuid() == 0 {
            // mkdtemp makes the folder 0700 for root; the server's user must be able to enter it.
            chmod(temporary, 0o755)
        }
        let directory = temporary + "/data"
        let cluster = try start(dataDirectory: directory, settings: settings, port: port, logger: logger)
        // A temporary server never outlives its process, even one that crashes or is killed.
        try cluster.stopWhenThisProcessEnds(removing: temporary)
        return cluster
    }

    /// Makes sure this process stops using the server when it ends without `stop()` (a crash,
    /// SIGKILL): a watcher process then shuts the server down at once, if no other process uses it
    /// and it is not kept running, and deletes `folder` when given. Nothing happens after a normal
    /// `stop()`.
    public func stopWhenThisProcessEnds(removing folder: String? = nil) throws {
        let started = try ServerWatcher.start(dataDirectory: dataDirectory, removing: folder)
        watcher.withLock { $0 = started }
    }

    /// Leaves the server running when this process ends, whoever else uses it, until it is stopped
    /// by hand (`waymark local stop`).
    public func keepRunning() throws {
        try ServerUsers.markKept(dataDirectory)
    }

    /// Ends this process's use of the server, and stops it when no other process uses it and it is
    /// not kept running. On a server found by `running(dataDirectory:)`, stops it regardless. With
    /// `removeData`, deletes its folder too when it stopped.
    public func stop(removeData: Bool = false) {
        let already = stopped.withLock { value -> Bool in
            defer { value = true }
            return value
        }
        guard !already else { return }
        let usage = self.usage.withLock { $0.take() }
        // The lock is let go after the shutdown, so that a process arriving meanwhile waits for it.
        defer {
            if let usage { close(usage) }
            watcher.withLock { $0.take() }?.release()
        }
        if let usage {
            guard ServerUsers.isLastToLeave(usage, dataDirectory: dataDirectory) else { return }
        } else {
            guard startedHere else { return }
            ServerUsers.forgetKept(dataDirectory)
        }
        // Signal the postmaster directly (SIGINT = fast shutdown) rather than running pg_ctl: this
        // also works from an atexit handler, where Foundation can no longer wait for a child process.
        if let pidFile = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
            let firstLine = pidFile.split(separator: "\n").first, let pid = pid_t(firstLine.trimmingCharacters(in: .whitespaces)), pid > 0
        {
            if kill(pid, SIGINT) == 0 {
                for _ in 0..<600 where kill(pid, 0) == 0 { usleep(50_000) }
                if kill(pid, 0) == 0 { kill(pid, SIGQUIT) }
            }
        }
        if removeData {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().path)
        }
    }

    // MARK: Helpers

    /// The folder of the PostgreSQL server binaries: `$WAYMARK_PG_BIN`, else the newest Debian install, else `PATH`.
    public static func findBinDirectory() throws -> String {
        let fileManager = FileManager.default
        if let configured = ProcessInfo.processInfo.environment["WAYMARK_PG_BIN"] {
            guard fileManager.isExecutableFile(atPath: configured + "/initdb") else {
                throw PostgresError(code: PostgresError.invalidArgument, message: "WAYMARK_PG_BIN=\(configured) holds no initdb")
            }
            return configured
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where fileManager.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if fileManager.isExecutableFile(atPath: "\(directory)/initdb") && fileManager.isExecutableFile(atPath: "\(directory)/pg_ctl") {
                return String(directory)
            }
        }
        throw PostgresError(
            code: PostgresError.invalidArgument,
            message: "PostgreSQL server binaries (initdb, pg_ctl) were not found; install them with `apt-get install -y postgresql` or set WAYMARK_PG_BIN")
    }

    private static func changeOwner(_ path: String, to user: String) throws {
        guard let entry = getpwnam(user) else {
            throw PostgresError(
                code: PostgresError.invalidArgument,
                message: "running as root, PostgreSQL needs the '\(user)' system user to run the server; install the postgresql package or run as a normal user"
            )
        }
        guard chown(path, entry.pointee.pw_uid, entry.pointee.pw_gid) == 0 else {
            throw PostgresError(code: PostgresError.invalidArgument, message: "cannot hand \(path) to user \(user): \(String(cString: strerror(errno)))")
        }
    }

    private static func runningPort(dataDirectory: String, binDirectory: String, as user: String?) -> Int? {
        guard let pidFile = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return nil }
        guard (try? run(binDirectory + "/pg_ctl", ["-D", dataDirectory, "status"], as: user)) != nil else { return nil }
        let lines = pidFile.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 3 else { return nil }
        return Int(lines[3].trimmingCharacters(in: .whitespaces))
    }

    private static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw PostgresError(code: PostgresError.invalidArgument, message: "cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw PostgresError(code: PostgresError.invalidArgument, message: "cannot bind a loopback socket to find a free port") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw PostgresError(code: PostgresError.invalidArgument, message: "cannot read the free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program to completion (as `user` via runuser when given) and returns its output.
    ///
    /// posix_spawn and waitpid, not Foundation's Process: the server that pg_ctl starts inherits the
    /// output descriptor, so output goes to a file rather than a pipe, and the child is reaped here.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], as user: String?) throws -> String {
        let argv = user.map { ["/usr/sbin/runuser", "-u", $0, "--", executable] + arguments } ?? [executable] + arguments
        let outputPath = NSTemporaryDirectory() + "waymark-pgctl-\(UUID().uuidString).log"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw PostgresError(code: PostgresError.invalidArgument, message: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { throw PostgresError(code: PostgresError.invalidArgument, message: "lost track of \(argv[0])") }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let exitCode = (status >> 8) & 0xff
        guard exited && exitCode == 0 else {
            throw PostgresError(
                code: PostgresError.invalidArgument,
                message:
                    "\((executable as NSString).lastPathComponent) failed (\(exited ? "exit \(exitCode)" : "signal \(status & 0x7f)")): \(text.trimmingWhitespace())"
            )
        }
        return text
    }
}
