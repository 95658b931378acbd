import WaymarkErrors

/// A notification that cannot be rendered or sent as requested.
public struct NotificationError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case unknownTemplate = "notification_template_unknown"
            case channelNotOffered = "notification_channel_not_offered"
            case missingVariable = "notification_variable_missing"
            case noRoute = "notification_no_route"
            case notMigrated = "notifications_not_migrated"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The notification names a template (or a template file) that `templates.yaml` does not declare.
        public static let unknownTemplate = Code(.unknownTemplate)
        /// The template has no version for the channel the recipient is routed to.
        public static let channelNotOffered = Code(.channelNotOffered)
        /// The notification lacks a value for a variable its template declares.
        public static let missingVariable = Code(.missingVariable)
        /// `notifications.yaml` routes the recipient nowhere.
        public static let noRoute = Code(.noRoute)
        /// The store's schema lacks the outbox's tables: run `waymark migrate`.
        public static let notMigrated = Code(.notMigrated)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        /// The request does not fit the configuration: retrying it unchanged fails the same way.
        public var kind: ErrorKind { base == .notMigrated ? .unavailable : .invalidInput }
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
