import Foundation
import WaymarkPostgres

extension EventStore {
    /// Wakes in-process subscriptions now and announces the append to other processes soon, on a
    /// separate connection, at most once per `announceInterval` however many appends happen.
    public func announceAppend() {
        appended.bump()
        let start = notifier.withLock { state -> Bool in
            if state.running {
                state.pending = true
                return false
            }
            state.running = true
            return true
        }
        guard start else { return }
        Task { [self] in
            while true {
                do {
                    // A NOTIFY transaction takes an XID; it only wakes readers, so it need not wait
                    // for its commit record to reach disk. One round trip, no bind values.
                    try await pool.withConnection { connection in
                        try await connection.runScript(
                            "BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY \(PostgresIdentifier.quote(notificationChannel)); COMMIT;")
                    }
                } catch {
                    logger.debug("could not announce appends", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: announceInterval)
                let again = notifier.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.running = false
                    return false
                }
                if !again { return }
            }
        }
    }

}
