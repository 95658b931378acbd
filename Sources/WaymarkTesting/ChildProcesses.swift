import Foundation

extension Process {
    /// Waits for the process to end and returns its exit status, on a thread of its own.
    ///
    /// `waitUntilExit()` blocks the thread it runs on. Called from a test, that thread is one of
    /// the cooperative pool's (two on CI), so a test waiting for a child blocked every other test's
    /// tasks: statements waiting for their replies, timers and cancellations stalled for as long as
    /// the child ran (minutes for schemathesis).
    public func exited() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                self.waitUntilExit()
                continuation.resume(returning: self.terminationStatus)
            }
        }
    }

    /// Runs the process with its output and errors into one pipe, reads the pipe to its end and
    /// waits for the process, both on a thread of their own (see `exited()`).
    ///
    /// Only for a process that starts no long-lived child of its own: a child inheriting the pipe's
    /// writing end would keep the read from ending.
    public func runCollectingOutput() async throws -> (status: Int32, output: String) {
        let pipe = Pipe()
        standardOutput = pipe
        standardError = pipe
        try run()
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                self.waitUntilExit()
                continuation.resume(returning: (self.terminationStatus, String(decoding: data, as: UTF8.self)))
            }
        }
    }
}
