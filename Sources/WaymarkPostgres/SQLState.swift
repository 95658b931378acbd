/// The SQLSTATE codes Waymark looks at, by name: PostgreSQL's (appendix A of its manual). The
/// event store's own `WM…` codes, raised by its migrations, are the event store's business.
public enum SQLState {
    public static let uniqueViolation: PostgresError.Code = "23505"
    public static let checkViolation: PostgresError.Code = "23514"
    public static let invalidTextRepresentation: PostgresError.Code = "22P02"
    public static let untranslatableCharacter: PostgresError.Code = "22P05"
    public static let invalidJSONText: PostgresError.Code = "22032"
    public static let characterNotInRepertoire: PostgresError.Code = "22021"
    public static let invalidEscapeSequence: PostgresError.Code = "22025"
    public static let serializationFailure: PostgresError.Code = "40001"
    public static let deadlockDetected: PostgresError.Code = "40P01"
    public static let lockNotAvailable: PostgresError.Code = "55P03"
    public static let queryCanceled: PostgresError.Code = "57014"
    public static let featureNotSupported: PostgresError.Code = "0A000"
    public static let insufficientPrivilege: PostgresError.Code = "42501"
    public static let inFailedTransaction: PostgresError.Code = "25P02"
    public static let undefinedTable: PostgresError.Code = "42P01"

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
