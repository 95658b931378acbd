import Foundation

extension Process {
    /// Waits for the process to end and returns its exit status, without holding a thread.
    ///
    /// `waitUntilExit()` blocks the thread it runs on. Called from a test, that thread is one of
    /// the cooperative pool's (two on CI), so a test waiting for a child blocked every other test's
    /// tasks: statements waiting for their replies, timers and cancellations stalled for as long as
    /// the child ran (minutes for schemathesis). Nor can it move to a thread of its own: off the
    /// thread that started the process, Foundation's wait spins on an empty run loop, a core at
    /// full load. So this looks every 20 ms, asleep in between.
    public func exited() async -> Int32 {
        while isRunning {
            do {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                // Cancelled: the child still has to end before its status can be read.
                usleep(20_000)
            }
        }
        return terminationStatus
    }

    /// Runs the process with its output and errors into one pipe, reads the pipe to its end on a
    /// thread of its own, and waits for the process (see `exited()`).
    ///
    /// Only for a process that starts no long-lived child of its own: a child inheriting the pipe's
    /// writing end would keep the read from ending.
    public func runCollectingOutput() async throws -> (status: Int32, output: String) {
        let pipe = Pipe()
        standardOutput = pipe
        standardError = pipe
        try run()
        let output = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        return (await exited(), output)
    }
}

/// Runs `body` while `process` runs, then stops it (SIGTERM) and waits for it to end without
/// holding a thread, also when `body` throws. A `defer` cannot await, and `waitUntilExit()` in one
/// blocks a thread of the cooperative pool (see `Process.exited()`).
public func whileRunning<T>(_ process: Process, _ body: () async throws -> T) async throws -> T {
    func stop() async {
        if process.isRunning { process.terminate() }
        _ = await process.exited()
    }
    do {
        let value = try await body()
        await stop()
        return value
    } catch {
        await stop()
        throw error
    }
}
