import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// `WAYMARK_EXIT_WITH_PARENT=<pid>`: the process ends (SIGKILL) as soon as its parent is no longer
/// that process, so a test that spawned it and then crashed or was killed leaves nothing running.
///
/// A thread looks at `getppid()` ten times a second. Not `PR_SET_PDEATHSIG`: that signal comes
/// when the *thread* that spawned the child ends, and a test spawns from a pool thread, which the
/// pool may retire while the test still runs.
enum ExitWithParent {
    static func armIfAsked() {
        guard let text = ProcessInfo.processInfo.environment["WAYMARK_EXIT_WITH_PARENT"], let parent = pid_t(text), parent > 1 else { return }
        let watcher = Thread {
            while getppid() == parent { usleep(100_000) }
            kill(getpid(), SIGKILL)
        }
        watcher.start()
    }
}

@main
enum Entry {
    static func main() {
        ExitWithParent.armIfAsked()
        if ProcessInfo.processInfo.environment["WAYMARK_NIO_EXECUTOR"] == "1" {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        Task {
            await WaymarkCommand.main()
            exit(0)
        }
        dispatchMain()
    }
}
