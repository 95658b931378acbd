import WaymarkPostgres

/// An append's expected version did not match the stream.
public struct WrongExpectedVersionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code = "wrong_expected_version"
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
    public var description: String { message }
}

/// A refused request to the event store.
public struct EventStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A stream name, event type, expected version or batch that breaks the rules.
        case invalidInput = "invalid_input"
        /// Event data that is not valid JSON.
        case invalidEventData = "invalid_event_data"
        /// Event ids that were already used in a different way.
        case idempotencyConflict = "idempotency_conflict"
        /// An attempt to change or delete stored events.
        case immutable = "events_immutable"
        /// The append must run in a newer transaction: the stream's last event was written by a
        /// transaction that began after this one, and appending here would put the stream out of
        /// version order in the global log. Retry the whole transaction; `EventStore.transaction`
        /// and subscription batches do so themselves.
        case retryTransaction = "retry_transaction"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
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
