import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which processes use a private server. Each holds a shared `flock` on a file beside the data
/// folder (`<data folder>.users`) while it uses the server; the kernel drops the lock when the
/// process ends, however it ends. The last to leave stops the server, holding the lock exclusively
/// while it does, so that a process arriving meanwhile waits for the stop and then starts a new
/// server rather than connect to one going down. A server kept running on purpose (`demo
/// --keep-running`) has a marker beside it (`<data folder>.kept`) and is left running until it is
/// stopped by hand (`waymark local stop`).
enum ServerUsers {
    static func lockPath(_ dataDirectory: String) -> String { dataDirectory + ".users" }
    static func keptPath(_ dataDirectory: String) -> String { dataDirectory + ".kept" }

    /// Joins the server's users; waits while a leaving process stops it. Returns the lock's file.
    static func join(_ dataDirectory: String) throws -> Int32 {
        let path = lockPath(dataDirectory)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PostgresError(code: PostgresError.invalidArgument, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        while flock(fd, LOCK_SH) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw PostgresError(code: PostgresError.invalidArgument, message: "cannot lock \(path): \(reason)")
            }
        }
        return fd
    }

    /// Whether the process leaving through `fd` may stop the server: no other process uses it and
    /// it is not kept running. When true, `fd` holds the lock exclusively until it is closed.
    static func isLastToLeave(_ fd: Int32, dataDirectory: String) -> Bool {
        // A failed conversion drops the shared lock as well (Linux), which leaving means anyway.
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        return !FileManager.default.fileExists(atPath: keptPath(dataDirectory))
    }

    static func markKept(_ dataDirectory: String) throws {
        let path = keptPath(dataDirectory)
        guard FileManager.default.createFile(atPath: path, contents: Data("kept running by `waymark demo --keep-running`\n".utf8)) else {
            throw PostgresError(code: PostgresError.invalidArgument, message: "cannot create \(path)")
        }
    }

    static func forgetKept(_ dataDirectory: String) {
        try? FileManager.default.removeItem(atPath: keptPath(dataDirectory))
    }
}
