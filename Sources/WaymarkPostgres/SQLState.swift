/// The SQLSTATE codes Waymark looks at, by name. The server's codes are PostgreSQL's (appendix A of
/// its manual); the `WM…` codes are raised by Waymark's own migrations (`Migrations/`).
public enum SQLState {
    public static let uniqueViolation = "23505"
    public static let checkViolation = "23514"
    public static let invalidTextRepresentation = "22P02"
    public static let untranslatableCharacter = "22P05"
    public static let invalidJSONText = "22032"
    public static let characterNotInRepertoire = "22021"
    public static let invalidEscapeSequence = "22025"
    public static let serializationFailure = "40001"
    public static let deadlockDetected = "40P01"
    public static let lockNotAvailable = "55P03"
    public static let queryCanceled = "57014"
    public static let featureNotSupported = "0A000"
    public static let insufficientPrivilege = "42501"
    public static let inFailedTransaction = "25P02"

    /// `append_events`: the expected version does not hold (DETAIL: the actual version).
    public static let wrongExpectedVersion = "WM001"
    /// `append_events`: the batch's event ids were used before in another way.
    public static let idempotencyConflict = "WM002"
    /// `append_events`: invalid arguments.
    public static let invalidAppend = "WM003"
    /// An UPDATE, DELETE or TRUNCATE of stored events.
    public static let eventsImmutable = "WM004"

    /// Classes (the first two characters) whose errors a new transaction may not meet again:
    /// transaction rollback (serialization failure, deadlock).
    public static let transactionRollbackClass = "40"
    /// Connection exceptions.
    public static let connectionExceptionClass = "08"
    /// Operator intervention (shutdown, cancel).
    public static let operatorInterventionClass = "57"
    /// Data exceptions: invalid values. Their messages usually quote the value.
    public static let dataExceptionClass = "22"
}
