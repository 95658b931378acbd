import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@Suite("Timestamps with a UTC offset")
struct TimestampOffsetTests {
    @Test("a time with a negative UTC offset, in hours or hours and minutes, reads as the instant PostgreSQL's ::timestamptz gives")
    func negativeOffsets() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let texts = [
            "2026-11-26 04:00:00-05", "2026-11-26 05:30:00-03:30", "2026-11-26T05:30:00.25-03:30", "2026-11-26 23:59:59-09:30",
            "2026-11-26 04:00:00+05:45",
        ]
        let rows = try await pool.query("SELECT t, t::timestamptz FROM unnest(\(PostgresArray(texts))::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n")
        #expect(rows.count == texts.count)
        for row in rows {
            let (parsed, server) = try row.decode(Date.self, Date.self)
            let text = try row.decode(String.self, at: 0)
            #expect(parsed == server, "\(text)")
        }
        // Stated outright too: 04:00 five hours behind UTC is 09:00 UTC.
        #expect(try rows[0].decode(Date.self, at: 0) == Date(timeIntervalSince1970: 1_795_683_600))
        #expect(try rows[1].decode(Date.self, at: 0) == Date(timeIntervalSince1970: 1_795_683_600))
    }
}
