import WaymarkErrors
import WaymarkPostgres

/// An append's expected version did not match the stream.
public struct WrongExpectedVersionError: WaymarkError, Equatable {
    /// Always `.wrongExpectedVersion`: the store's codes are one list.
    public let code = EventStoreError.Code.wrongExpectedVersion
    public var streamName: String
    public var expected: ExpectedVersion
    /// The stream's version when the append was refused; 0 when the stream does not exist.
    public var actualVersion: Int64

    public init(streamName: String, expected: ExpectedVersion, actualVersion: Int64) {
        self.streamName = streamName
        self.expected = expected
        self.actualVersion = actualVersion
    }

    public var message: String {
        "wrong expected version for stream \(streamName): expected \(expected), actual \(actualVersion == 0 ? "no stream" : String(actualVersion))"
    }
}

/// A refused request to the event store.
public struct EventStoreError: WaymarkError, Equatable {
    /// The event store's codes (`WrongExpectedVersionError` carries one of them too).
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidInput = "invalid_input"
            case invalidEventData = "invalid_event_data"
            case idempotencyConflict = "idempotency_conflict"
            case immutable = "events_immutable"
            case retryTransaction = "retry_transaction"
            case wrongExpectedVersion = "wrong_expected_version"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A stream name, event type, expected version or batch that breaks the rules.
        public static let invalidInput = Code(.invalidInput)
        /// Event data that is not valid JSON.
        public static let invalidEventData = Code(.invalidEventData)
        /// Event ids that were already used in a different way.
        public static let idempotencyConflict = Code(.idempotencyConflict)
        /// An attempt to change or delete stored events.
        public static let immutable = Code(.immutable)
        /// The append must run in a newer transaction: the stream's last event was written by a
        /// transaction that began after this one, and appending here would put the stream out of
        /// version order in the global log. Retry the whole transaction; `EventStore.transaction`
        /// and subscription batches do so themselves.
        public static let retryTransaction = Code(.retryTransaction)
        /// An append's expected version did not hold (`WrongExpectedVersionError`).
        public static let wrongExpectedVersion = Code(.wrongExpectedVersion)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }

        public var kind: ErrorKind {
            switch base {
            case .invalidInput, .invalidEventData: return .invalidInput
            case .idempotencyConflict, .retryTransaction, .wrongExpectedVersion: return .conflict
            case .immutable: return .refused
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

/// The SQLSTATEs the event store's own functions and triggers raise (`Migrations/0001…0003`).
enum StoreSQLState {
    /// `append_events`: the expected version does not hold (DETAIL: the actual version).
    static let wrongExpectedVersion: PostgresError.Code = "WM001"
    /// `append_events`: the batch's event ids were used before in another way.
    static let idempotencyConflict: PostgresError.Code = "WM002"
    /// `append_events`: invalid arguments.
    static let invalidAppend: PostgresError.Code = "WM003"
    /// An UPDATE, DELETE or TRUNCATE of stored events.
    static let eventsImmutable: PostgresError.Code = "WM004"
}

extension EventStore {
    /// Whether running the failed work again in a new transaction can succeed: the store's order
    /// refusal, a serialization failure or a deadlock (SQLSTATE class 40).
    public static func isRetryable(_ error: any Error) -> Bool {
        switch error {
        case let error as EventStoreError: return error.code == .retryTransaction
        case let error as PostgresError: return error.isClass(SQLState.transactionRollbackClass)
        default: return false
        }
    }
}
