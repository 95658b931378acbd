import WaymarkErrors

/// The process manager cannot run, or an operator's request of it cannot be carried out.
public struct ProcessManagerError: WaymarkError, Equatable {
    /// Stable across releases; new codes may be added.
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case notMigrated = "process_manager_not_migrated"
            case eventNotApplied = "process_manager_event_not_applied"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The schema lacks the process manager's tables: `waymark migrate` adds them.
        public static let notMigrated = Code(.notMigrated)
        /// An event of the log the scheduler cannot fold (data that does not decode, a journey
        /// event before its start); it stops there until the log or the code is fixed.
        public static let eventNotApplied = Code(.eventNotApplied)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }

        public var kind: ErrorKind {
            switch base {
            case .notMigrated: return .unavailable
            case .eventNotApplied: return .internal
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
