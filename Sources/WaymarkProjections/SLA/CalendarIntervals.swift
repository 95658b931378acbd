import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres

/// The business calendars' timelines as a table of a build, and the two functions over it that
/// the views call when read: business seconds between two instants, and the instant a number of
/// business seconds after another. Both mirror `BusinessTimeline`, which the projection counts
/// with, so stored and computed figures agree. A NULL calendar counts around the clock.
///
/// The functions run as their owner (SECURITY DEFINER, fixed search path): the analyst role may
/// read the views but not this schema's tables.
struct CalendarIntervals {
    let tables: ProjectionTables

    var secondsFunction: PostgresQuery { tables.name("business_seconds") }
    var addingFunction: PostgresQuery { tables.name("business_add") }

    func create(_ timelines: [BusinessTimeline], in transaction: Transaction) async throws {
        let intervals = tables.name("calendar_intervals")
        try await transaction.execute(
            """
            CREATE TABLE \(intervals) (
                calendar text NOT NULL,
                starts_at timestamptz NOT NULL,
                ends_at timestamptz NOT NULL,
                before_seconds bigint NOT NULL,
                after_seconds bigint NOT NULL,
                PRIMARY KEY (calendar, starts_at)
            )
            """)
        try await transaction.execute("CREATE INDEX ON \(intervals) (calendar, after_seconds)")
        let rows: [[String?]] = timelines.flatMap { timeline in
            timeline.intervals.map { [timeline.calendar, "\($0.start)", "\($0.end)", String($0.before), String($0.after)] }
        }
        // Epoch seconds are staged as they are and turned into timestamps in one INSERT.
        try await transaction.execute("CREATE TEMP TABLE waymark_calendar_staging (c text, s bigint, e bigint, b bigint, a bigint)")
        _ = try await transaction.copyIn("COPY pg_temp.waymark_calendar_staging FROM STDIN", rows: rows)
        try await transaction.execute("INSERT INTO \(intervals) SELECT c, to_timestamp(s), to_timestamp(e), b, a FROM pg_temp.waymark_calendar_staging")
        try await transaction.execute("DROP TABLE pg_temp.waymark_calendar_staging")
        // The business seconds counted on the calendar's (`$1`) timeline before the instant `at`
        // (a parameter of the function, `$2` or `$3`).
        func position(_ at: String) -> PostgresQuery {
            let at = PostgresQuery(sql: at)
            return """
                coalesce((SELECT i.before_seconds + extract(epoch FROM least(\(at), i.ends_at) - i.starts_at)::float8
                          FROM \(intervals) i WHERE i.calendar = $1 AND i.starts_at <= \(at) ORDER BY i.starts_at DESC LIMIT 1), 0)
                """
        }
        try await transaction.execute(
            """
            CREATE FUNCTION \(secondsFunction)(text, timestamptz, timestamptz) RETURNS float8
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
                SELECT CASE WHEN $1 IS NULL THEN extract(epoch FROM $3 - $2)::float8 ELSE \(position("$3")) - \(position("$2")) END
            $fn$
            """)
        try await transaction.execute(
            """
            CREATE FUNCTION \(addingFunction)(text, timestamptz, float8) RETURNS timestamptz
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
                SELECT CASE WHEN $3 <= 0 THEN $2
                    WHEN $1 IS NULL THEN $2 + make_interval(secs => $3)
                    ELSE coalesce(
                        (SELECT i.starts_at + make_interval(secs => t.target - i.before_seconds)
                         FROM \(intervals) i WHERE i.calendar = $1 AND i.after_seconds >= t.target ORDER BY i.after_seconds LIMIT 1),
                        -- Past the last interval the rest counts around the clock, as BusinessTimeline does.
                        (SELECT greatest(max(i.ends_at), $2) + make_interval(secs => t.target - max(i.after_seconds))
                         FROM \(intervals) i WHERE i.calendar = $1 HAVING count(*) > 0),
                        $2 + make_interval(secs => $3))
                    END
                FROM (SELECT \(position("$2")) + $3 AS target) t
            $fn$
            """)
    }
}
