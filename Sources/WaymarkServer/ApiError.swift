import WaymarkErrors

/// What the HTTP API itself refuses, before or around the domain: credentials, roles, the shape of
/// a request. Each code has its HTTP status; the domain's and the store's errors keep their own
/// codes and answer with their kind's status (`Problem`).
public struct ApiError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case unauthorized
            case forbidden
            case sourceSystemMismatch = "source_system_mismatch"
            case invalidBody = "invalid_body"
            case missingField = "missing_field"
            case unknownField = "unknown_field"
            case wrongType = "wrong_type"
            case invalidValue = "invalid_value"
            case bodyTooLarge = "body_too_large"
            case unsupportedMediaType = "unsupported_media_type"
            case notFound = "not_found"
            case notMigrated = "api_not_migrated"
            case viewsNotBuilt = "views_not_built"
            case rateLimited = "rate_limited"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No credentials, or ones that are unknown, revoked or expired.
        public static let unauthorized = Code(.unauthorized)
        /// The credentials' role may not do this.
        public static let forbidden = Code(.forbidden)
        /// A key bound to a source system was used to write as another.
        public static let sourceSystemMismatch = Code(.sourceSystemMismatch)
        /// The body is not JSON, or not the JSON value expected (an object, an array).
        public static let invalidBody = Code(.invalidBody)
        public static let missingField = Code(.missingField)
        /// A field the operation does not know: refused rather than ignored, so a typo is not lost.
        public static let unknownField = Code(.unknownField)
        public static let wrongType = Code(.wrongType)
        /// A field or parameter of the right type with a value out of its range or format.
        public static let invalidValue = Code(.invalidValue)
        public static let bodyTooLarge = Code(.bodyTooLarge)
        public static let unsupportedMediaType = Code(.unsupportedMediaType)
        /// No such path, or nothing at it (a key).
        public static let notFound = Code(.notFound)
        /// The store's schema lacks the API's tables: run `waymark migrate`.
        public static let notMigrated = Code(.notMigrated)
        /// The analytics views do not exist yet: no projection runner has built them.
        public static let viewsNotBuilt = Code(.viewsNotBuilt)
        /// The key made more requests than its rate allows: wait `Retry-After` seconds.
        public static let rateLimited = Code(.rateLimited)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }

        public var kind: ErrorKind {
            switch base {
            case .unauthorized, .forbidden, .sourceSystemMismatch: return .refused
            case .invalidBody, .missingField, .unknownField, .wrongType, .invalidValue, .bodyTooLarge, .unsupportedMediaType:
                return .invalidInput
            case .notFound: return .notFound
            case .notMigrated, .viewsNotBuilt, .rateLimited: return .unavailable
            }
        }

        /// The status the API answers with: the kind's, but for the codes HTTP has its own for.
        public var httpStatus: Int {
            switch base {
            case .unauthorized: return 401
            case .forbidden, .sourceSystemMismatch: return 403
            case .bodyTooLarge: return 413
            case .unsupportedMediaType: return 415
            case .rateLimited: return 429
            default: return kind.httpStatus
            }
        }
    }

    public let code: Code
    public let message: String
    /// The request field or parameter at fault (`body.events[2].type`, `query.limit`), if one is.
    public let field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }
}
