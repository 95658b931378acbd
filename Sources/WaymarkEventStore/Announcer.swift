import Foundation
import ServiceLifecycle
import WaymarkPostgres

extension EventStore: Service {
    /// Runs the store's background work until graceful shutdown or cancellation: it announces
    /// appends to other processes (a coalesced NOTIFY, at most once per `announceInterval`), and on
    /// the way out sends a last pending announcement and closes the pool, draining leased
    /// connections. Run it in the process's `ServiceGroup` before the services that use the store,
    /// so that it stops after them. In-process subscribers are woken without it; subscribers in
    /// other processes then learn of appends by polling only.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.announceLoop()
        }
        if takePendingAnnouncement() { await announce() }
        await close()
    }

    /// Wakes in-process subscriptions now and asks the running store service to announce the append
    /// to other processes.
    public func announceAppend() {
        appended.bump()
        notifier.withLock { $0.pending = true }
        announcementRequested.bump()
    }

    private func announceLoop() async {
        while !Task.isCancelled {
            let generation = announcementRequested.generation
            if takePendingAnnouncement() {
                await announce()
                // However many appends happen meanwhile, the next NOTIFY waits this long.
                try? await clock.sleep(for: announceInterval)
                continue
            }
            await announcementRequested.wait(after: generation, timeout: .seconds(60), clock: clock)
        }
    }

    private func takePendingAnnouncement() -> Bool {
        notifier.withLock { state in
            defer { state.pending = false }
            return state.pending
        }
    }

    private func announce() async {
        do {
            // A NOTIFY transaction takes an XID; it only wakes readers, so it need not wait for its
            // commit record to reach disk. One round trip, no bind values.
            try await pool.withConnection { connection in
                try await connection.runScript(
                    "BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY \(PostgresIdentifier.quote(notificationChannel)); COMMIT;")
            }
        } catch {
            logger.debug("could not announce appends", metadata: ["waymark.error": "\(error)"])
        }
    }
}
