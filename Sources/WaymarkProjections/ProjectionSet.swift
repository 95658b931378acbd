import WaymarkDefinitions
import WaymarkDomain

/// The projections a runner keeps, by name: Waymark's standard read models and any that other
/// modules add beside them.
///
/// A module adds its own with `adding(_:)`; a runner given the set leads and builds each one on
/// its own, with its own tables, checkpoint and registry rows, as it does the standard ones.
public struct ProjectionSet: Sendable {
    /// In the order they were added.
    public private(set) var projections: [any Projection] = []

    /// An empty set, or one of `projections` (names must be valid and distinct).
    public init(_ projections: [any Projection] = []) throws {
        for projection in projections { self = try adding(projection) }
    }

    /// Every read model Waymark keeps, as `waymark projections run` and the demo run them, reading
    /// the log through `codec` (the one the writers seal personal fields with).
    public static func standard(definitions: DefinitionLibrary, codec: EventCodec = .standard) -> ProjectionSet {
        // The standard names are fixed and distinct: adding them cannot fail.
        var set = ProjectionSet(unchecked: [])
        set.projections = [
            JourneysProjection(definitions: definitions, codec: codec), CustomersProjection(codec: codec),
            SLAProjection(definitions: definitions, codec: codec), ConsentProjection(catalog: definitions.catalog, codec: codec),
            EscalationsProjection(codec: codec), NotificationsProjection(codec: codec),
        ]
        return set
    }

    private init(unchecked projections: [any Projection]) { self.projections = projections }

    /// The analytics views the set's projections publish, by name.
    public var viewNames: [String] {
        projections.flatMap { projection in
            projection.views(ProjectionTables(schema: "", projection: projection.name, version: projection.version, build: 0)).map(\.name)
        }
    }

    /// This set and `projection`. Throws when its name is not a valid projection name or one of
    /// the set already has it (two projections would share tables and a checkpoint).
    public func adding(_ projection: any Projection) throws -> ProjectionSet {
        try ProjectionRunnerChecks.name(projection.name)
        guard self[projection.name] == nil else {
            throw ProjectionCommandError(.invalidInput, "a projection named '\(projection.name)' is registered already")
        }
        var set = self
        set.projections.append(projection)
        return set
    }

    /// This set and each of `projections`.
    public func adding(contentsOf projections: [any Projection]) throws -> ProjectionSet {
        try projections.reduce(self) { try $0.adding($1) }
    }

    /// The projection named `name`, if the set has it.
    public subscript(name: String) -> (any Projection)? { projections.first { $0.name == name } }

    public var names: [String] { projections.map(\.name) }
}
