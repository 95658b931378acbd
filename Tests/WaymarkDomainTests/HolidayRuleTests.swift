import Foundation
import Testing
import WaymarkDomain

/// An instant written as `2027-03-26T07:00:00Z`.
private func instant(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

private let configured = try! DefinitionLoader.load(directory: configDirectory).calendars

private func office(holidays: String) -> String {
    """
    calendars:
      office:
        time_zone: America/New_York
        hours:
          monday: "09:00-17:00"
        holidays:
    \(holidays)
    """
}

@Suite("Holiday rules")
struct HolidayRuleTests {
    @Test("Easter Sunday follows the Gregorian computus (2027: 28 March)")
    func easter() throws {
        let expected = [
            2011: "2011-04-24", 2019: "2019-04-21", 2024: "2024-03-31", 2025: "2025-04-20", 2026: "2026-04-05", 2027: "2027-03-28", 2038: "2038-04-25",
        ]
        let calendar = try #require(try DefinitionLoader.parseCalendars(office(holidays: "      - easter"), file: "calendars.yaml")["office"])
        for (year, date) in expected {
            #expect(calendar.resolvedHolidays(years: year..<(year + 1)).map(\.date) == [date], "\(year)")
        }
    }

    @Test("emea-business closes on Good Friday and Easter Monday 2027 (26 and 29 March), not on 2 and 5 April")
    func emeaEaster2027() {
        let emea = BusinessTimeline(configured["emea-business"]!)
        // Friday 26 March and Monday 29 March 2027: holidays. Friday 2 April (08-16 CEST) and Monday 5 April (08-18 CEST): working days.
        #expect(emea.seconds(from: instant("2027-03-26T00:00:00Z"), to: instant("2027-03-27T00:00:00Z")) == 0)
        #expect(emea.seconds(from: instant("2027-03-29T00:00:00Z"), to: instant("2027-03-30T00:00:00Z")) == 0)
        #expect(emea.seconds(from: instant("2027-04-02T00:00:00Z"), to: instant("2027-04-03T00:00:00Z")) == 8 * 3_600)
        #expect(emea.seconds(from: instant("2027-04-05T00:00:00Z"), to: instant("2027-04-06T00:00:00Z")) == 10 * 3_600)
    }

    @Test("the shipped calendars keep their holidays after 2027: Christmas 2028 and 2035, Thanksgiving 2030, observed days")
    func laterYears() {
        let emea = BusinessTimeline(configured["emea-business"]!)
        // Monday 25 December 2028 and Tuesday 25 December 2035 are closed.
        #expect(emea.seconds(from: instant("2028-12-25T00:00:00Z"), to: instant("2028-12-26T00:00:00Z")) == 0)
        #expect(emea.seconds(from: instant("2035-12-25T00:00:00Z"), to: instant("2035-12-26T00:00:00Z")) == 0)
        let us = configured["us-business"]!
        #expect(
            us.resolvedHolidays(years: 2027..<2028).map(\.date) == [
                "2027-01-01", "2027-05-31", "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24", "2027-12-31",
            ])
        // Thanksgiving 2030 is Thursday 28 November; Independence Day 2026 (a Saturday) is kept on Friday 3 July.
        let timeline = BusinessTimeline(us)
        #expect(timeline.seconds(from: instant("2030-11-28T00:00:00Z"), to: instant("2030-11-29T00:00:00Z")) == 0)
        #expect(timeline.seconds(from: instant("2026-07-03T00:00:00Z"), to: instant("2026-07-04T00:00:00Z")) == 0)
        #expect(us.holidaysKnownThrough == "2039-12-31")
    }

    @Test("rules: a fixed day, Easter offsets, n-th and last weekdays, nearest weekday, explicit dates")
    func rules() throws {
        let yaml = office(
            holidays: """
                      - "12-25"
                      - easter-2
                      - easter+1
                      - 4th thursday of november
                      - Last Monday of May
                      - 1st monday of september
                      - {date: "07-04", name: Independence Day, observed: nearest-weekday}
                      - {date: "01-01", observed: nearest-weekday}
                      - "2026-12-31"
                """)
        let calendar = try #require(try DefinitionLoader.parseCalendars(yaml, file: "calendars.yaml")["office"])
        #expect(
            calendar.resolvedHolidays(years: 2026..<2027).map(\.date) == [
                "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-25", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25", "2026-12-31",
            ])
        // New Year's Day 2028 is a Saturday: kept on Friday 31 December 2027.
        #expect(calendar.resolvedHolidays(years: 2027..<2028).map(\.date).last == "2027-12-31")
        #expect(calendar.resolvedHolidays(years: 2026..<2027).first { $0.date == "2026-07-03" }?.holiday.name == "Independence Day")
        #expect(calendar.holidays.filter { !$0.recurs }.map(\.text) == ["2026-12-31"])
        // Explicit dates only: known through the end of the last one's year.
        let listed = try #require(
            try DefinitionLoader.parseCalendars(office(holidays: "      - \"2026-12-25\"\n      - \"2027-01-01\""), file: "calendars.yaml")["office"])
        #expect(listed.holidaysKnownThrough == "2027-12-31")
    }

    /// Each bad rule is refused naming the file, the line, the path and the problem.
    @Test(
        "bad holiday rules are refused with the file, the line, the path and the problem",
        arguments: [
            ("\"13-01\"", "calendars.office.holidays[0]", "not a day that comes every year"),
            ("\"02-30\"", "calendars.office.holidays[0]", "not a day that comes every year"),
            ("\"2027-02-29\"", "calendars.office.holidays[0]", "is not a date"),
            ("easter+x", "calendars.office.holidays[0]", "not an offset from Easter"),
            ("5th friday of march", "calendars.office.holidays[0]", "write last"),
            ("last funday of may", "calendars.office.holidays[0]", "'funday' in 'last funday of may' is not a weekday"),
            ("2nd monday of maytime", "calendars.office.holidays[0]", "is not a month"),
            ("christmas", "calendars.office.holidays[0]", "is not a holiday"),
            ("{date: \"07-04\", observed: closest}", "calendars.office.holidays[0].observed", "not an observed rule"),
            ("{name: Founders Day}", "calendars.office.holidays[0].date", "'date' is missing"),
            ("{date: \"07-04\", when: always}", "calendars.office.holidays[0].when", "unknown key 'when'"),
            ("{date: \"2026-07-04\", observed: nearest-weekday}", "calendars.office.holidays[0]", "one date"),
        ])
    func badRules(rule: String, path: String, problem: String) throws {
        do {
            _ = try DefinitionLoader.parseCalendars(office(holidays: "      - \(rule)"), file: "calendars.yaml")
            Issue.record("accepted \(rule)")
        } catch let error as DefinitionError {
            #expect(error.file == "calendars.yaml")
            #expect(error.path == path, "\(error)")
            #expect(error.message.contains(problem), "\(error)")
            #expect(error.line != nil, "\(error)")
        }
    }
}
