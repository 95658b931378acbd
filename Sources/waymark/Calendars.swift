import ArgumentParser
import Foundation
import WaymarkDomain
import WaymarkRuntime

/// `waymark calendars show NAME --year YEAR`: what a calendar of `calendars.yaml` resolves to.
struct Calendars: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Business calendars of calendars.yaml: weekly hours and holidays as their rules resolve.", subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a calendar's weekly hours and the holidays of a year.")

        @Argument(help: "The calendar's name in calendars.yaml.")
        var name: String

        @Option(help: "The year whose holidays to list (\(BusinessCalendar.horizon.lowerBound)-\(BusinessCalendar.horizon.upperBound - 1)).")
        var year: Int = Calendar(identifier: .gregorian).component(.year, from: Date())

        @OptionGroup var definitions: DefinitionOptions

        @Option(name: .customLong("config"), help: "Configuration file (default: $WAYMARK_CONFIG, else ./waymark.yaml if there is one).")
        var configFile: String?

        func validate() throws {
            guard BusinessCalendar.horizon.contains(year) else {
                throw ValidationError(
                    "--year \(year) is outside the years calendars are laid out for, \(BusinessCalendar.horizon.lowerBound)-\(BusinessCalendar.horizon.upperBound - 1)"
                )
            }
        }

        func run() throws {
            let runtime = WaymarkRuntime(configuration: try WaymarkConfiguration.load(file: configFile, overrides: definitions.overrides))
            let calendars = try runtime.catalog().calendars
            guard let calendar = calendars[name] else {
                throw CLIError(
                    "no calendar '\(name)' in \(runtime.configuration.definitions.directory)/calendars.yaml; it defines \(calendars.keys.sorted().joined(separator: ", "))"
                )
            }
            print(Self.describe(calendar, year: year), terminator: "")
        }

        static func describe(_ calendar: BusinessCalendar, year: Int) -> String {
            func clock(_ minutes: Int) -> String { String(format: "%02d:%02d", minutes / 60, minutes % 60) }
            var out = "\(calendar.name) (\(calendar.timeZone))\n\nWeekly hours\n"
            for (index, day) in BusinessCalendar.weekdays.enumerated() {
                let hours = calendar.weeklyHours[index + 1] ?? []
                let text = hours.isEmpty ? "closed" : hours.map { "\(clock($0.opens))-\(clock($0.closes))" }.joined(separator: ", ")
                out += "  \(day.padding(toLength: 10, withPad: " ", startingAt: 0)) \(text)\n"
            }
            let week = Double(calendar.minutesPerWeek) / 60
            let day = Double(calendar.businessDaySeconds) / 3_600
            out += String(format: "  %.4g business hours a week; a business day (a d in a target) is %.4g hours\n", week, day)
            let holidays = calendar.resolvedHolidays(years: year..<(year + 1))
            out += "\nHolidays in \(year)\(holidays.isEmpty ? ": none" : "")\n"
            for resolved in holidays {
                let weekday = BusinessCalendar.weekdays[resolved.weekday - 1].capitalized.padding(toLength: 10, withPad: " ", startingAt: 0)
                let holiday = resolved.holiday
                let rule = holiday.text + (holiday.observedOnNearestWeekday ? ", observed on the nearest weekday" : "")
                out += "  \(resolved.date) \(weekday) \(holiday.name.map { "\($0) " } ?? "")(\(rule))\n"
            }
            out += "\nHolidays known through \(calendar.holidaysKnownThrough)\n"
            return out
        }
    }
}
