import Foundation
import Logging
import ServiceLifecycle
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkProcessManager
import WaymarkReactions

/// `process-manager run`: the store, a process manager (its deadline subscription and firing) and
/// the rules engine of `rules.yaml`.
public struct ProcessManagerServices: RoleServices {
    public let store: EventStore
    public let processManager: ProcessManager
    public let reactions: ReactionEngine
    public var services: [any Service] { [store, processManager, reactions] }
}

/// `process-manager status` and `rebuild`: the store alone.
public struct StoreServices: RoleServices {
    public let store: EventStore
    public var services: [any Service] { [store] }
}

extension RuntimeDatabase {
    /// The process manager on a migrated store: definitions and `process-manager.yaml` from
    /// `definitions.directory`, pool `database.pool.process_manager`. `instance` names it in the
    /// events it records (default: host, pid and a random suffix).
    public func withProcessManager<T>(instance: String? = nil, _ body: (ProcessManagerServices) async throws -> T) async throws -> T {
        let catalog = try runtime.catalog()
        let settings = try runtime.processManagerSettings(catalog: catalog)
        let rules = try runtime.rules(catalog: catalog, settings: settings)
        return try await withRole(
            .processManager,
            { store, _ in
                let definitions = DefinitionLibrary(catalog)
                return ProcessManagerServices(
                    store: store,
                    processManager: try ProcessManager(store: store, definitions: definitions, settings: settings, instance: instance, logger: logger),
                    reactions: try ReactionEngine.configured(
                        store: store, rules: rules, definitions: definitions, settings: settings, instance: instance, logger: logger))
            }, body)
    }

    /// What `process-manager status` shows, with no DDL.
    public func processManagerStatus(now: Date = Date()) async throws -> ProcessManagerStatus {
        try await withRole(.processManagerAdmin, { store, _ in StoreServices(store: store) }) { services in
            try await ProcessManagerStatus.read(services.store, now: now, logger: logger)
        }
    }

    /// `process-manager rebuild`: drops the derived state so that the scheduler derives it again
    /// from the log (migrating first, like `run`).
    public func rebuildProcessManager() async throws {
        try await withRole(.processManager, { store, _ in StoreServices(store: store) }) { services in
            try await ProcessManagerRebuild.rebuild(services.store, logger: logger)
        }
    }
}
