import Foundation
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The SLA projection's folds as its tables store them: a journey's own fields in a row of
/// `journeys`, each clock in its row of `clocks`. A fold is read back from them, not from JSON
/// beside them: encoding every touched fold as JSON was the largest part of the projection's own
/// CPU, and the clocks' rows already held every field of a clock.
///
/// Times come back as the microseconds they were written with, built into a `Date` the way the
/// log's times are, so a fold read back counts on exactly as one kept in memory would.
enum StoredClocks {
    static let journeyColumns = [
        "journey_id", "customer_id", "open", "journey_type", "definition_version", "tier", "department", "waiting", "handoff_count", "pending_goals",
    ]

    static func write(_ fold: SLAClockFold, into rows: inout CopyBinary) {
        for text in [fold.journeyId, fold.customerId] { rows.append(text) }
        rows.append(!fold.ended)
        for text in [fold.journeyType, fold.definitionVersion, fold.tier, fold.department] { rows.append(text) }
        rows.append(fold.waiting)
        rows.append(integer: fold.handoffCount)
        rows.append(textArray: fold.pendingGoals)
        rows.endRow()
    }

    /// The folds of the journeys `journeys` selects (a condition on its columns), by journey id.
    static func load(_ tables: ProjectionTables, where condition: PostgresQuery, in transaction: Transaction) async throws -> [String: SLAClockFold] {
        let rows = try await transaction.query(
            """
            SELECT journey_id, customer_id, open, journey_type, definition_version, tier, department, waiting, handoff_count, pending_goals
            FROM \(tables.name("journeys")) WHERE \(condition)
            """)
        var folds: [String: SLAClockFold] = [:]
        for row in rows {
            let fold = SLAClockFold(
                journeyId: try row.decode(String.self, at: 0), customerId: try row.decode(String.self, at: 1), journeyType: try row.decode(String.self, at: 3),
                definitionVersion: try row.decode(String.self, at: 4), tier: try row.decode(String.self, at: 5), department: try row.decode(String.self, at: 6),
                waiting: try row.decode(Bool.self, at: 7), ended: !(try row.decode(Bool.self, at: 2)), handoffCount: try row.decode(Int.self, at: 8),
                pendingGoals: try row.decode([String].self, at: 9))
            folds[fold.journeyId] = fold
        }
        guard !folds.isEmpty else { return folds }
        let micros = { (column: String) in "(extract(epoch FROM \(column)) * 1000000)::int8" }
        let clocks = try await transaction.query(
            """
            SELECT journey_id, clock, kind, calendar, target_seconds, pauses, tier, state, \(PostgresQuery(sql: micros("started_at"))),
                \(PostgresQuery(sql: micros("running_since"))), \(PostgresQuery(sql: micros("paused_since"))), \(PostgresQuery(sql: micros("stopped_at"))),
                elapsed_before, paused_before, \(PostgresQuery(sql: micros("breach_at"))), \(PostgresQuery(sql: micros("original_breach_at"))),
                \(PostgresQuery(sql: micros("reached_50_at"))), \(PostgresQuery(sql: micros("reached_75_at"))), \(PostgresQuery(sql: micros("reached_100_at"))),
                ever_breached, breach_department, handoff_no, from_department, to_department, outcome
            FROM \(tables.name("clocks")) WHERE journey_id = ANY(\(PostgresArray(Array(folds.keys)))::text[])
            ORDER BY journey_id, started_at, clock
            """)
        for row in clocks {
            let journeyId = try row.decode(String.self, at: 0)
            folds[journeyId]?.clocks.append(try SLAClock(row))
        }
        return folds
    }
}

extension SLAClock {
    /// The clock a row of `clocks` holds, as `StoredClocks.load` selects it.
    fileprivate init(_ row: PostgresRow) throws {
        func time(_ column: Int) throws -> Date? {
            try row.decode(Int64?.self, at: column).map { Date(timeIntervalSince1970: Double($0) / 1_000_000) }
        }
        func named<Value: RawRepresentable>(_ column: Int, as type: Value.Type) throws -> Value where Value.RawValue == String {
            let text = try row.decode(String.self, at: column)
            guard let value = Value(rawValue: text) else {
                throw PostgresError(code: .decodingFailure, message: "a stored clock has the unknown \(Value.self) '\(text)'")
            }
            return value
        }
        // A clock of another module is built through its initializer; every field is then set from the row.
        self.init(
            kind: try named(2, as: Kind.self), name: try row.decode(String.self, at: 1), calendar: try row.decode(String?.self, at: 3),
            targetSeconds: try row.decode(Int64.self, at: 4), pausesWhileWaiting: try row.decode(Bool.self, at: 5), tier: try row.decode(String.self, at: 6),
            at: Date(timeIntervalSince1970: 0), timeline: nil)
        state = try named(7, as: State.self)
        startedAt = try time(8) ?? Date(timeIntervalSince1970: 0)
        runningSince = try time(9)
        pausedSince = try time(10)
        stoppedAt = try time(11)
        elapsedBefore = Int64((try row.decode(Double.self, at: 12) * 1_000_000).rounded())
        pausedBefore = Int64((try row.decode(Double.self, at: 13) * 1_000_000).rounded())
        breachAt = try time(14)
        originalBreachAt = try time(15)
        reached = [try time(16), try time(17), try time(18)]
        everBreached = try row.decode(Bool.self, at: 19)
        breachDepartment = try row.decode(String?.self, at: 20)
        handoffNumber = try row.decode(Int?.self, at: 21)
        fromDepartment = try row.decode(String?.self, at: 22)
        toDepartment = try row.decode(String?.self, at: 23)
        outcome = try row.decode(String?.self, at: 24)
    }
}
