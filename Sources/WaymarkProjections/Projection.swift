import Foundation
import WaymarkDefinitions
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore
import WaymarkPostgres

/// A read model built from the log: a named, versioned set of tables and the code that fills them
/// from batches of events. A new version (changed tables or rules) is built into tables of its own
/// beside the live version, and the analytics views switch to it once it has caught up.
public protocol Projection: Sendable {
    /// Names the projection in `waymark projections` and in its tables (lowercase letters, digits, _).
    var name: String { get }
    /// Bump it when the tables or the rules change: the runner builds the new version beside the
    /// live one.
    var version: Int { get }
    /// The events it reads.
    var source: SubscriptionSource { get }
    /// What `apply` gets of each event's metadata (by default only `occurredAt`).
    var metadata: MetadataFields { get }
    /// Creates the version's tables (`tables.name(…)`) in `transaction`.
    func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws
    /// Applies a batch of events in `transaction`, set-based (one statement per table, not per
    /// event). Returns how many of them it ignored because it does not know their type. Throws
    /// `ProjectionError` naming the event it cannot apply.
    func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int
    /// The stable views analysts read, by name, over this version's tables.
    func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)]
    /// Indexes that only readers need, as table and column list: a build gets them when it goes
    /// live, since building them once over the full tables costs less than keeping them up to date
    /// row by row while the build catches up.
    func readerIndexes() -> [ReaderIndex]
}

extension Projection {
    public var metadata: MetadataFields { .occurredAt }

    public func readerIndexes() -> [ReaderIndex] { [] }
}

/// An index only readers need, on one of a projection's tables. A plain one is named as
/// PostgreSQL names an index it names itself (builds made before had some from the start, and are
/// not indexed twice); a partial one (`where`) carries its own `name`. An index is made once
/// under its name: one whose definition changes needs a new name.
public struct ReaderIndex: Sendable {
    public var table: String
    /// Key columns, comma-separated.
    public var columns: String
    /// Columns stored beside the keys, so that a reader of only those gets an index-only scan.
    public var include: [String]
    /// The rows indexed; nil for all.
    public var predicate: String?
    public var name: String?

    public init(_ table: String, _ columns: String, include: [String] = [], where predicate: String? = nil, name: String? = nil) {
        precondition((predicate == nil) == (name == nil), "a partial reader index needs a name of its own")
        self.table = table
        self.columns = columns
        self.include = include
        self.predicate = predicate
        self.name = name
    }

    /// The index's name for a build's table prefix (at most 63 bytes, as PostgreSQL keeps).
    func indexName(prefix: String) -> String {
        let parts = name.map { [$0] } ?? columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return String(decoding: ([prefix + table] + parts + ["idx"]).joined(separator: "_").utf8.prefix(63), as: UTF8.self)
    }

    /// `CREATE INDEX IF NOT EXISTS` for `tables`.
    func createStatement(_ tables: ProjectionTables) -> PostgresQuery {
        var sql = "CREATE INDEX IF NOT EXISTS \(PostgresIdentifier.quote(indexName(prefix: tables.prefix))) ON \(tables.name(table).sql) (\(columns))"
        if !include.isEmpty { sql += " INCLUDE (\(include.map(PostgresIdentifier.quote).joined(separator: ", ")))" }
        if let predicate { sql += " WHERE \(predicate)" }
        return PostgresQuery(sql: sql)
    }
}

/// An event a projection could not apply: the projection stops there, named in
/// `waymark projections status`, until `retry`.
public struct ProjectionError: WaymarkError {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case eventNotApplied = "event_not_applied"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The projection cannot apply the event (data that does not decode, an event out of
        /// the order its rules expect); it stops there until a retry or a skip.
        public static let eventNotApplied = Code(.eventNotApplied)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        /// An operator looks at it: the log holds what the read model's rules do not expect.
        public var kind: ErrorKind { .internal }
    }

    public let code = Code.eventNotApplied
    public var eventId: UUID
    public var position: GlobalPosition
    /// Why, naming ids but no event data (which can be personal).
    public var reason: String

    public init(_ event: RecordedEvent, _ reason: String) {
        eventId = event.id
        position = event.position
        self.reason = reason
    }

    public var message: String { "event \(eventId) at \(position): \(reason)" }
}

/// A request about projections that cannot be carried out: an operator's (`waymark projections
/// …`), or a projection set up in code that breaks the rules.
public struct ProjectionCommandError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidInput = "invalid_input"
            case unknownProjection = "unknown_projection"
            case notStopped = "projection_not_stopped_there"
            case invalidProjection = "invalid_projection"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A request missing what it needs (a skip without a reason or an actor).
        public static let invalidInput = Code(.invalidInput)
        /// No projection of that name runs here.
        public static let unknownProjection = Code(.unknownProjection)
        /// A skip named an event no build of the projection stopped on.
        public static let notStopped = Code(.notStopped)
        /// A projection given to the runner breaks the rules (its name).
        public static let invalidProjection = Code(.invalidProjection)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }

        public var kind: ErrorKind {
            switch base {
            case .invalidInput: return .invalidInput
            case .unknownProjection: return .notFound
            case .notStopped: return .conflict
            case .invalidProjection: return .internal
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func invalid(_ message: String) -> Self { Self(.invalidInput, message) }
    static func notStopped(_ message: String) -> Self { Self(.notStopped, message) }
}

/// The tables of one build of a projection version: `proj_<name>_v<version>b<build>_<table>` in
/// the store's schema.
public struct ProjectionTables: Sendable {
    public let schema: String
    public let projection: String
    public let version: Int
    public let build: Int

    public var prefix: String { "proj_\(projection)_v\(version)b\(build)_" }

    /// The subscription that feeds this build (its checkpoint row).
    var subscriptionName: String { "projection:\(projection):v\(version)b\(build)" }

    /// The qualified name of table `table` of this version, to splice into a query.
    public func name(_ table: String) -> PostgresQuery {
        "\(identifier: schema).\(identifier: prefix + table)"
    }

    /// Every table of this version, as the catalog lists them.
    func existing(in transaction: Transaction) async throws -> [String] {
        let rows = try await transaction.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = \(schema) AND starts_with(tablename, \(prefix)) ORDER BY tablename")
        return try rows.map { try $0.decode(String.self, at: 0) }
    }
}

extension Projection {
    func tables(schema: String, build: Int) -> ProjectionTables { ProjectionTables(schema: schema, projection: name, version: version, build: build) }

}

/// Every read model Waymark keeps, as `waymark projections run` and the demo run them
/// (`ProjectionSet.standard(definitions:)`, to which other modules add theirs).
public func standardProjections(definitions: DefinitionLibrary) -> [any Projection] {
    ProjectionSet.standard(definitions: definitions).projections
}

/// Every read model Waymark keeps, knowing the definitions of `catalog` and those the log records.
public func standardProjections(catalog: JourneyCatalog) -> [any Projection] {
    standardProjections(definitions: DefinitionLibrary(catalog))
}
