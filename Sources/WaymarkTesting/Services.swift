import Logging
import ServiceLifecycle

/// Runs `services` in a `ServiceGroup` while `body` runs, then shuts them down gracefully (in
/// reverse order, as a process would) and waits for them to finish.
public func withServices<T: Sendable>(
    _ services: [any Service], logger: Logger = TestDatabase.quietLogger, _ body: () async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let value: T
        do {
            value = try await body()
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return value
    }
}
