import Foundation
import Logging
import Synchronization
import WaymarkEventStore

/// Records the outcomes of a worker's deliveries in batches, one transaction (and one commit)
/// each, the way a database groups commits: whoever finds no batch being written writes the queue,
/// and the deliveries that finish meanwhile wait for the next batch. A batch that fails (an outcome
/// another worker recorded differently, whose append conflicts) is recorded again one by one, so
/// that one conflict costs no other outcome.
final class OutcomeRecorder: Sendable {
    private struct State {
        var queue: [(Outcome, CheckedContinuation<Void, any Error>)] = []
        var writing = false
    }

    let table: DeliveryTable
    let memory: WorkerMemory
    let batchSize: Int
    /// Bumped after each batch: the worker waits on it while too many outcomes are queued.
    let written: ChangeSignal
    private let state = Mutex(State())

    init(table: DeliveryTable, memory: WorkerMemory, batchSize: Int = 256, written: ChangeSignal) {
        self.table = table
        self.memory = memory
        self.batchSize = batchSize
        self.written = written
    }

    /// Outcomes handed over and not yet committed.
    var queued: Int { state.withLock { $0.queue.count } }

    /// Returns once `outcome` is committed (or was recorded already by another worker).
    func record(_ outcome: Outcome) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let write = state.withLock { state -> Bool in
                state.queue.append((outcome, continuation))
                guard !state.writing else { return false }
                state.writing = true
                return true
            }
            if write { Task { await self.writeQueue() } }
        }
    }

    private func writeQueue() async {
        while true {
            let batch = state.withLock { state -> [(Outcome, CheckedContinuation<Void, any Error>)] in
                let batch = Array(state.queue.prefix(batchSize))
                state.queue.removeFirst(batch.count)
                if batch.isEmpty { state.writing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            defer { written.bump() }
            do {
                memory.closed(try await table.close(batch.map(\.0)))
                for (_, continuation) in batch { continuation.resume() }
            } catch {
                for (outcome, continuation) in batch {
                    do {
                        memory.closed(try await table.close([outcome]))
                        continuation.resume()
                    } catch let error as EventStoreError where error.code == .idempotencyConflict {
                        // Another worker recorded a different outcome under the notification's
                        // one outcome id (its lease had run out while this one still sent): the
                        // first outcome stands, and the feed closes the row when it reads it.
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }
    }
}

/// Runs its action the first time `run()` is called, and never again.
final class Once: Sendable {
    private let action: Mutex<(@Sendable () -> Void)?>

    init(_ action: @escaping @Sendable () -> Void) { self.action = Mutex(action) }

    func run() {
        action.withLock { action -> (@Sendable () -> Void)? in
            defer { action = nil }
            return action
        }?()
    }
}
