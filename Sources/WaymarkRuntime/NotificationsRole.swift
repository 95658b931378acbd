import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications
import WaymarkReactions

/// `notifications run`: the store and a delivery worker (the outbox feed, claims, deliveries).
public struct NotificationServices: RoleServices {
    public let store: EventStore
    public let worker: DeliveryWorker
    public var services: [any Service] { [store, worker] }
}

extension WaymarkRuntime {
    /// `notifications.yaml` of `definitions.directory`, its secrets from the environment, its roles
    /// checked against those `process-manager.yaml` routes; a malformed file is named with the problem.
    public func notificationSettings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> NotificationSettings {
        let directory = URL(fileURLWithPath: configuration.definitions.directory)
        let roles = Set(try processManagerSettings(catalog: try catalog()).routing.keys)
        return try definitionsFile { try NotificationSettings.load(directory: directory, environment: environment, knownRoles: roles) }
    }

    /// The rules of `definitions.directory/rules.yaml` (none when it is absent), checked against the
    /// templates, the process manager's routing, the consent purposes and the definitions.
    public func rules(catalog: JourneyCatalog, settings: ProcessManagerSettings) throws -> RuleSet {
        let directory = URL(fileURLWithPath: configuration.definitions.directory)
        // Without rules nothing names a template: a folder without templates is fine then.
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(RuleSet.fileName).path) else { return .empty }
        let templates = try notificationTemplates()
        return try definitionsFile { try RuleSet.load(directory: directory, templates: templates, settings: settings, catalog: catalog) }
    }

    /// The templates of `definitions.directory/templates`.
    public func notificationTemplates() throws -> NotificationTemplates {
        let directory = URL(fileURLWithPath: configuration.definitions.directory).appendingPathComponent("templates")
        return try definitionsFile { try NotificationTemplates.load(directory: directory) }
    }

    /// Runs `load`, naming the configuration folder's key and origin on a malformed file.
    func definitionsFile<T>(_ load: () throws -> T) throws -> T {
        do {
            return try load()
        } catch let error as DefinitionError {
            throw ConfigurationError(
                .invalidValue, key: "definitions.directory", source: configuration.origins["definitions.directory"] ?? "", message: "\(error)")
        }
    }
}

extension RuntimeDatabase {
    /// A delivery worker on a migrated store, with `notifications.yaml` and the templates of
    /// `definitions.directory`, pool `database.pool.notifications`, and an HTTP client of its own
    /// (shut down after `body`). `worker` names it in status and in its escalations.
    public func withNotifications<T>(
        worker: String? = nil, options: DeliveryOptions = DeliveryOptions(), settings: NotificationSettings? = nil,
        _ body: (NotificationServices) async throws -> T
    ) async throws -> T {
        let settings = try settings ?? runtime.notificationSettings()
        let templates = try runtime.notificationTemplates()
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: WebhookSender.clientConfiguration())
        do {
            let result = try await withRole(
                .notifications,
                { store, _ in
                    NotificationServices(
                        store: store,
                        worker: try DeliveryWorker(
                            store: store, settings: settings, templates: templates, httpClient: client, options: options, worker: worker, logger: logger))
                }, body)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// What `notifications status` shows, with no DDL.
    public func notificationStatus(now: Date = Date()) async throws -> NotificationStatus {
        try await withRole(.notificationsAdmin, { store, _ in StoreServices(store: store) }) { services in
            try await NotificationStatus.read(services.store, now: now, logger: logger)
        }
    }
}
