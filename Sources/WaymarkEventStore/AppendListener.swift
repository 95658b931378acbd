import ServiceLifecycle
import WaymarkPostgres

/// Wakes this process's readers (`EventStore.appended`) when another process appends: a LISTEN on
/// the store's channel until graceful shutdown. A process whose readers are not subscriptions
/// (which listen themselves), such as the HTTP API's live feeds, runs one in its group.
public struct AppendListener: Service {
    let store: EventStore

    public init(store: EventStore) { self.store = store }

    public func run() async throws {
        let signal = store.appended
        // A (re)connect bumps too: notifications sent while disconnected are lost.
        let listener = PostgresListener(configuration: store.pool.configuration, channels: [store.notificationChannel], logger: store.logger) { _ in
            signal.bump()
        }
        listener.start()
        try? await gracefulShutdown()
        await listener.stop()
    }
}
