import WaymarkErrors

/// The rules engine cannot run.
public struct ReactionError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case notMigrated = "reactions_not_migrated"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The store's schema lacks the rules engine's tables: run `waymark migrate`.
        public static let notMigrated = Code(.notMigrated)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        public var kind: ErrorKind { .unavailable }
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
