import Foundation
import Testing

@Suite("waymark calendars")
struct CalendarsCommandTests {
    static let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config").path

    @Test("calendars show prints the weekly hours and the year's holidays as the rules resolve them")
    func show() async throws {
        let (status, output) = try await waymark(["calendars", "show", "emea-business", "--year", "2027", "--definitions", Self.config])
        #expect(status == 0, "\(output)")
        #expect(output.contains("emea-business (Europe/Berlin)"), "\(output)")
        #expect(output.contains("friday     08:00-16:00") && output.contains("saturday   closed"), "\(output)")
        #expect(output.contains("2027-03-26 Friday     Good Friday (easter-2)"), "\(output)")
        #expect(output.contains("2027-03-29 Monday     Easter Monday (easter+1)"), "\(output)")
        #expect(!output.contains("2027-04-02"), "\(output)")
        let us = try await waymark(["calendars", "show", "us-business", "--year", "2027", "--definitions", Self.config])
        #expect(us.output.contains("2027-07-05 Monday     Independence Day (07-04, observed on the nearest weekday)"), "\(us.output)")
        #expect(us.output.contains("2027-12-31 Friday     New Year's Day"), "\(us.output)")
    }

    @Test("an unknown calendar or a year outside the horizon is refused with what there is")
    func refused() async throws {
        let unknown = try await waymark(["calendars", "show", "moon-time", "--definitions", Self.config])
        #expect(unknown.status != 0 && unknown.output.contains("no calendar 'moon-time'") && unknown.output.contains("emea-business"), "\(unknown.output)")
        let late = try await waymark(["calendars", "show", "emea-business", "--year", "2050", "--definitions", Self.config])
        #expect(late.status != 0 && late.output.contains("2010-2039"), "\(late.output)")
    }
}
