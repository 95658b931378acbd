import CLibPQ
import Foundation
import Synchronization

/// Sends libpq's cancel request for the statement a connection is running, when the task waiting
/// for it is cancelled.
///
/// A cancel request travels on a connection of its own and may reach the server after the
/// statement finished; it would then cancel whatever that session runs next. So the request is
/// sent only while (or just after) a statement is in flight, and a connection that asked for one
/// is not reused: the pool closes it when it comes back.
final class QueryCanceller: Sendable {
    private struct State {
        var handle: UnsafeSendablePointer?
        var inFlight = false
        var sent = false
    }
    private let state: Mutex<State>

    init(_ pg: OpaquePointer) {
        state = Mutex(State(handle: PQgetCancel(pg).map(UnsafeSendablePointer.init)))
    }

    deinit {
        state.withLock { state in
            if let handle = state.handle { PQfreeCancel(handle.pointer) }
        }
    }

    /// Whether a cancel request was sent on this connection.
    var wasUsed: Bool { state.withLock { $0.sent } }

    func begin() { state.withLock { $0.inFlight = true } }
    func end() { state.withLock { $0.inFlight = false } }

    /// Asks the server to cancel the statement in flight, if one is.
    ///
    /// The request is sent from a thread of its own: `PQcancel` connects to the server and waits
    /// for it, and the caller is the cancelling task's thread, one of the cooperative pool's few.
    /// The thread holds this object, so the handle lives until the request is sent; it sends
    /// nothing when the statement ended meanwhile (the connection is not reused either way).
    func cancel() {
        let handle = state.withLock { state -> UnsafeSendablePointer? in
            guard state.inFlight, !state.sent, let handle = state.handle else { return nil }
            state.sent = true
            return handle
        }
        guard let handle else { return }
        Thread.detachNewThread { [self] in
            guard state.withLock({ $0.inFlight }) else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(handle.pointer, &buffer, Int32(buffer.count))
        }
    }
}
