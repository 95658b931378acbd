import Foundation
import WaymarkPostgres

extension EventStore {
    /// The folder of the store's migrations (the events table, the projections registry, the
    /// analyst role), shipped as a resource of this module so that a binary finds them wherever it
    /// is started from. An installed binary needs its `Waymark_WaymarkEventStore.resources` folder
    /// beside it (see deploy/README.md).
    public static var migrationsDirectory: URL {
        Bundle.module.resourceURL?.appendingPathComponent("Migrations") ?? Bundle.module.bundleURL.appendingPathComponent("Migrations")
    }

    /// The store's migrations, in order.
    public static func migrations() throws -> [Migration] {
        try Migrator.load(directory: migrationsDirectory)
    }
}
