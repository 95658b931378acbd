import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

@Suite("COPY rows and timestamps")
struct CopyTextTests {
    @Test("typed fields written as binary COPY rows come back from PostgreSQL as they were")
    func typedFieldsRoundTrip() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        try await pool.query(
            "CREATE TABLE typed (n int8, body text, ratio float8, flag bool, at timestamptz, wait interval, small int4, id uuid, items text[])")
        let texts: [String?] = ["plain", "tab\there", "line\nbreak\r\n", #"back\slash"#, "ünïcödé ✓", "", nil, String(repeating: "long ", count: 40)]
        let numbers: [Int64?] = [0, -1, 42, Int64.max, Int64.min, nil, 1_234_567_890_123, -987]
        let ratios: [Double?] = [0.1, -0.0, 1e-7, 123_456.789_012_345, .greatestFiniteMagnitude, nil, 3, -2.5e300]
        let dates: [Date?] = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_795_676_161.123_456), nil, Date(timeIntervalSince1970: -1_000_000_000.5),
            Date(timeIntervalSince1970: 951_782_400), Date(timeIntervalSince1970: 4_102_444_799.999_999), Date(timeIntervalSince1970: 86_399),
            Date(timeIntervalSince1970: 1),
        ]
        let smalls: [Int?] = [0, Int(Int32.max), nil, Int(Int32.min), -4, 7, 1, 100_000]
        let ids: [UUID?] = (0..<8).map { $0 == 3 ? nil : UUID() }
        let lists: [[String]] = [["plain", #"quote " and back\slash"#, "", "comma, {braces}", "tab\tand\nnewline", "NULL"], [], ["ünï ✓"]]
        var rows = CopyBinary()
        for index in 0..<8 {
            rows.append(bigint: numbers[index])
            rows.append(texts[index])
            rows.append(float8: ratios[index])
            rows.append(index % 3 == 0 ? nil : index % 2 == 0)
            rows.append(dates[index])
            rows.append(intervalSeconds: index == 5 ? nil : Int64(index * 3_600 - 7))
            rows.append(integer: smalls[index])
            rows.append(ids[index])
            if index < lists.count { rows.append(textArray: lists[index]) } else { rows.appendNull() }
            rows.endRow()
        }
        #expect(rows.rows == 8)
        let stored = try await pool.withConnection { try await $0.copyIn("COPY typed FROM STDIN (FORMAT binary)", rows) }
        #expect(stored == 8)
        let back = try await pool.query(
            """
            SELECT n, body, ratio, flag, (extract(epoch FROM at) * 1000000)::int8, extract(epoch FROM wait)::int8, small, id, items,
                wait = make_interval(secs => extract(epoch FROM wait)), to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            FROM typed ORDER BY ctid
            """)
        #expect(back.count == 8)
        for (index, row) in back.enumerated() {
            #expect(try row.decode(Int64?.self, at: 0) == numbers[index])
            #expect(try row.decode(String?.self, at: 1) == texts[index])
            let ratio = try row.decode(Double?.self, at: 2)
            #expect(ratio?.bitPattern == ratios[index]?.bitPattern)
            #expect(try row.decode(Bool?.self, at: 3) == (index % 3 == 0 ? nil : index % 2 == 0))
            let micros = dates[index].map { Int64(($0.timeIntervalSince1970 * 1_000_000).rounded()) }
            #expect(try row.decode(Int64?.self, at: 4) == micros)
            // The same instant as the text form the store writes elsewhere.
            #expect(try row.decode(String?.self, at: 10) == dates[index].map(TimestampText.iso8601))
            #expect(try row.decode(Int64?.self, at: 5) == (index == 5 ? nil : Int64(index * 3_600 - 7)))
            #expect(try row.decode(Bool?.self, at: 9) == (index == 5 ? nil : true))
            #expect(try row.decode(Int?.self, at: 6) == smalls[index])
            #expect(try row.decode(UUID?.self, at: 7) == ids[index])
            #expect(try row.decode([String]?.self, at: 8) == (index < lists.count ? lists[index] : nil))
        }

        // A field of the wrong size is refused with an error, and the COPY stores nothing.
        try await pool.query("CREATE TABLE narrow (small int4, big int8)")
        for (small, big) in [(Int(Int32.max) + 1, Int64(1)), (1, nil)] {
            var wrong = CopyBinary()
            wrong.append(integer: 1)
            wrong.append(bigint: 2)
            wrong.endRow()
            wrong.append(integer: small)
            if let big { wrong.append(bigint: big) } else { wrong.append(integer: 3) }
            wrong.endRow()
            await #expect(throws: PostgresError.self) {
                try await pool.withConnection { try await $0.copyIn("COPY narrow FROM STDIN (FORMAT binary)", wrong) }
            }
        }
        #expect(try await pool.query("SELECT count(*) FROM narrow")[0].decode(Int64.self, at: 0) == 0)
    }

    @Test("text fields copied as COPY text rows keep tabs, line breaks and backslashes")
    func textRowsRoundTrip() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        try await pool.query("CREATE TABLE texts (n int4, body text)")
        let texts: [String?] = ["plain", "tab\there", "line\nbreak\r\n", #"back\slash"#, #"\N"#, "ünïcödé ✓", "", nil]
        let stored = try await pool.withConnection { connection in
            try await connection.copyIn("COPY texts FROM STDIN", rows: texts.enumerated().map { [String($0.offset), $0.element] })
        }
        #expect(stored == texts.count)
        let back = try await pool.query("SELECT body FROM texts ORDER BY n").map { try $0.decode(String?.self, at: 0) }
        #expect(back == texts)
        #expect(CopyText([["1", nil, "a\tb"]]).bytes == Array("1\t\\N\ta\\tb\n".utf8))
    }

    @Test("one-dimensional arrays decode from PostgreSQL's text output, and other shapes are refused")
    func arraysDecode() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let texts = ["plain", #"quote " and back\slash"#, "", "comma, {braces}", " spaced ", "tab\tand\nnewline", "NULL", "null", "ünï ✓"]
        let back = try await pool.query("SELECT \(PostgresArray(texts))::text[], '{}'::text[], ARRAY['a', NULL, 'b'], ARRAY[3, -1, 0]")[0]
        #expect(try back.decode([String].self, at: 0) == texts)
        #expect(try back.decode([String].self, at: 1) == [])
        #expect(try back.decode([String?].self, at: 2) == ["a", nil, "b"])
        #expect(try back.decode([Int].self, at: 3) == [3, -1, 0])
        #expect(throws: PostgresError.self) { try back.decode([String].self, at: 2) }
        for text in ["{{a,b},{c,d}}", "[0:1]={a,b}", "{a,,b}", "{a,}", "{\"a}", "{a\"b}", "a,b", "{", "{\"a\"b}"] {
            let row = try await pool.query("SELECT \(text)::text")[0]
            #expect(throws: PostgresError.self, "\(text)") { try row.decode([String].self, at: 0) }
        }
    }

    @Test("timestamps are written as the C library's UTC calendar has them, to the microsecond")
    func timestampsMatchTheCalendar() {
        var generator = SystemRandomNumberGenerator()
        var instants: [Double] = [0, -1, 86_400, 951_782_400, 951_868_799.999_999, -2_208_988_800, 253_402_300_799, 253_402_300_800, 1_795_676_161.5]
        for _ in 0..<20_000 { instants.append(Double.random(in: -2_208_988_800...4_102_444_800, using: &generator)) }
        for instant in instants {
            let date = Date(timeIntervalSince1970: instant)
            #expect(TimestampText.iso8601(date) == reference(date), "\(instant)")
        }
        // Before year 1 the text is refused by PostgreSQL, but writing it must not trap.
        #expect(TimestampText.iso8601(Date(timeIntervalSince1970: -62_198_755_200 - 400 * 86_400)).hasPrefix("-0003-11-27T"))
    }

    @Test("times read back, as the store writes them or as PostgreSQL prints them, are their whole microseconds")
    func timestampsParseToTheirMicroseconds() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        var generator = SystemRandomNumberGenerator()
        var micros: [Int64] = [0, -1, 1, 951_782_400_000_000, -2_208_988_800_000_001, 253_402_300_800_000_000, 1_795_676_161_999_999]
        for _ in 0..<200 { micros.append(Int64.random(in: -2_208_988_800_000_000...4_102_444_800_000_000, using: &generator)) }
        let texts = micros.map { TimestampText.iso8601(Date(timeIntervalSince1970: Double($0) / 1_000_000)) }
        let rows = try await pool.query(
            "SELECT t, t::timestamptz, (extract(epoch FROM t::timestamptz) * 1000000)::int8 FROM unnest(\(PostgresArray(texts))::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n"
        )
        #expect(rows.count == micros.count)
        for (index, row) in rows.enumerated() {
            let expected = Date(timeIntervalSince1970: Double(micros[index]) / 1_000_000)
            let (text, printed, epoch) = try row.decode(String.self, String.self, Int64.self)
            #expect(epoch == micros[index], "\(text) \(printed) \(epoch) \(micros[index])")
            #expect(try row.decode(Date.self, at: 0) == expected, "\(text)")
            #expect(try row.decode(Date.self, at: 1) == expected, "\(printed)")
        }
    }

    @Test("a time written with more than six decimals reads to the nearest microsecond, as PostgreSQL reads it")
    func longFractions() async throws {
        let (pool, _) = try await TestDatabase.freshPool()
        defer { Task { await pool.close() } }
        let texts = [
            "2026-11-26T09:00:00.1234567Z", "2026-11-26T09:00:00.1234564Z", "2026-11-26T09:00:00.9999996Z", "2026-11-26 09:00:00.00000049+01",
            "2026-11-26T09:00:00.123456789012Z",
        ]
        let rows = try await pool.query("SELECT t, t::timestamptz FROM unnest(\(PostgresArray(texts))::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n")
        #expect(rows.count == texts.count)
        for row in rows {
            let (text, asRead) = try row.decode(Date.self, Date.self)
            let written = try row.decode(String.self, at: 0)
            #expect(text == asRead, "\(written)")
        }
    }

    /// The way the text was made before: gmtime_r and padded numbers (now from the nearest
    /// microsecond, where it truncated).
    private func reference(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = time_t((micros / 1_000_000).rounded(.down))
        let fraction = Int(micros - Double(seconds) * 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
            fraction)
    }
}
