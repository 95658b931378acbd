import WaymarkPostgres

/// A place in the global log: events are ordered by the id of the transaction that wrote them,
/// then by their sequence number. Readers never see a transaction before all older ones finished.
public struct GlobalPosition: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var transactionId: UInt64
    public var sequence: Int64

    public init(transactionId: UInt64, sequence: Int64) {
        self.transactionId = transactionId
        self.sequence = sequence
    }

    /// Before the first event.
    public static let start = GlobalPosition(transactionId: 0, sequence: 0)

    public static func < (lhs: GlobalPosition, rhs: GlobalPosition) -> Bool {
        (lhs.transactionId, lhs.sequence) < (rhs.transactionId, rhs.sequence)
    }

    /// `transactionId:sequence`, as printed and parsed by the CLI.
    public var description: String { "\(transactionId):\(sequence)" }

    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let transactionId = UInt64(parts[0]), let sequence = Int64(parts[1]), sequence >= 0 else { return nil }
        self.init(transactionId: transactionId, sequence: sequence)
    }
}

extension GlobalPosition {
    /// The position in columns `column` (tx_id, as xid8 or its text) and `column + 1` (global_id).
    public init(_ row: PostgresRow, at column: Int = 0) throws {
        self.init(transactionId: try row.decode(UInt64.self, at: column), sequence: try row.decode(Int64.self, at: column + 1))
    }
}
