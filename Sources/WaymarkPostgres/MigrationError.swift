import WaymarkErrors

/// A set of migrations the migrator will not apply: its folder, its files or what a schema records
/// of them is wrong. (A migration's SQL that fails is the server's `PostgresError`.)
public struct MigrationError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case folderUnreadable = "migrations_unreadable"
            case misnamed = "migration_misnamed"
            case duplicateVersion = "migration_version_duplicated"
            case fileMissing = "migration_file_missing"
            case edited = "migration_edited"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The migrations folder cannot be listed.
        public static let folderUnreadable = Code(.folderUnreadable)
        /// A `.sql` file not named `NNNN_description.sql`.
        public static let misnamed = Code(.misnamed)
        /// Two files with the same number.
        public static let duplicateVersion = Code(.duplicateVersion)
        /// The schema records a migration whose file is gone.
        public static let fileMissing = Code(.fileMissing)
        /// A recorded migration's file changed since it was applied.
        public static let edited = Code(.edited)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        /// A deployment's files disagree with the schema or the rules: a fault to fix, not a request
        /// to repeat.
        public var kind: ErrorKind { .internal }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
