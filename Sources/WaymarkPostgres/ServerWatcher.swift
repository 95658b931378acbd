import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small shell process that stops a private server once the process that used it is gone,
/// however it ended (a crash, SIGKILL): an immediate shutdown (SIGQUIT to the postmaster), then,
/// for a temporary cluster, the removal of its folder; unless another process still uses the
/// server or it is kept running (`ServerUsers`: with util-linux's `flock` on the users' file, held
/// exclusively through the shutdown). It waits briefly for that lock: the dead process's own lock
/// is let go with its descriptors, in no set order with the pipe's. After a normal `stop()` the
/// process ends the watcher itself.
///
/// It waits for the end of a pipe whose only writer is this process: the kernel closes the writing
/// end when the process ends, whatever the cause, so no polling and no pid reuse. The writing end
/// is close-on-exec, so no other child (the server itself, a spawned CLI) holds it open. The
/// watcher gets a session of its own, so a Ctrl-C or a signal to the test's process group does not
/// take it down before it has done its work.
struct ServerWatcher: Sendable {
    let pid: pid_t
    private let writer: Int32

    private static let script = """
        trap '' INT TERM HUP
        cat >/dev/null
        if command -v flock >/dev/null 2>&1; then
            exec 9>>"$3"
            flock -x -w 5 9 || exit 0
            [ -e "$4" ] && exit 0
        fi
        [ -f "$1/postmaster.pid" ] || exit 0
        pid=$(head -n 1 "$1/postmaster.pid")
        case "$pid" in '' | *[!0-9]*) exit 0 ;; esac
        if [ "$(cat /proc/$pid/comm 2>/dev/null)" = postgres ]; then
            kill -QUIT "$pid" 2>/dev/null
            n=0
            while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
        fi
        [ -n "$2" ] && rm -rf "$2"
        exit 0
        """

    /// Starts watching the server in `dataDirectory`; `removing`, when given, is deleted after it stopped.
    static func start(dataDirectory: String, removing folder: String?) throws -> ServerWatcher {
        var ends: [Int32] = [0, 0]
        // Close-on-exec at once (another thread may spawn meanwhile; pipe2 is not imported).
        guard pipe(&ends) == 0, fcntl(ends[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(ends[1], F_SETFD, FD_CLOEXEC) == 0 else {
            throw PostgresError(
                code: PostgresError.invalidArgument, message: "cannot make a pipe for the server's watcher: \(String(cString: strerror(errno)))")
        }
        defer { close(ends[0]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copy: the watcher reads the pipe as its standard input.
        posix_spawn_file_actions_adddup2(&actions, ends[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26), which the Glibc module does not import.
        posix_spawnattr_setflags(&attributes, 0x80)
        let argv = [
            "/bin/sh", "-c", script, "waymark-postgres-watcher", dataDirectory, folder ?? "", ServerUsers.lockPath(dataDirectory),
            ServerUsers.keptPath(dataDirectory),
        ]
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, environ)
        guard spawned == 0 else {
            close(ends[1])
            throw PostgresError(code: PostgresError.invalidArgument, message: "cannot start the server's watcher: \(String(cString: strerror(spawned)))")
        }
        return ServerWatcher(pid: pid, writer: ends[1])
    }

    /// Ends the watcher after a normal stop: the process left the server itself, so the watcher
    /// has nothing to do. (This process is its parent until it is reaped below, so the pid names it.)
    func release() {
        kill(pid, SIGKILL)
        close(writer)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
}
