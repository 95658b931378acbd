import Foundation
import Logging
import Metrics
import Synchronization
import WaymarkDomain

/// Reports clocks that count past the last day whose holidays a calendar knows
/// (`BusinessTimeline.knownUntil`: the horizon of its rules, or the year of its last explicit
/// date): such a clock counts that stretch as if it had no holidays. Never silent: each such clock
/// written counts in `waymark_sla_clocks_past_known_holidays_total{calendar}`, and the first of
/// each calendar is logged as a warning.
final class CalendarHorizon: Sendable {
    private let knownUntil: [String: Date]
    /// The earliest of them, so that the usual clock costs one comparison.
    private let earliest: Date
    private let logger: Logger
    /// Calendars already warned of, and how many clocks were noted (for tests).
    private let noted = Mutex<(warned: Set<String>, clocks: Int)>(([], 0))

    var clocksNoted: Int { noted.withLock { $0.clocks } }

    init(_ timelines: [String: BusinessTimeline], logger: Logger) {
        knownUntil = timelines.mapValues { Date(timeIntervalSince1970: Double($0.knownUntil)) }
        earliest = knownUntil.values.min() ?? .distantFuture
        self.logger = logger
    }

    /// Notes `clock` if it counts, or projects its deadline, past its calendar's known holidays.
    func check(_ clock: SLAClock, journeyId: String) {
        guard let calendar = clock.calendar else { return }
        // The latest instant the clock has counted to or projects (no array: this runs per clock written).
        var latest = clock.breachAt ?? clock.startedAt
        if let instant = clock.runningSince, instant > latest { latest = instant }
        if let instant = clock.pausedSince, instant > latest { latest = instant }
        if let instant = clock.stoppedAt, instant > latest { latest = instant }
        guard latest >= earliest, let until = knownUntil[calendar], latest >= until else { return }
        Counter(label: "waymark_sla_clocks_past_known_holidays_total", dimensions: [("calendar", calendar)]).increment()
        let first = noted.withLock { noted in
            noted.clocks += 1
            return noted.warned.insert(calendar).inserted
        }
        guard first else { return }
        logger.warning(
            "an SLA clock counts past the last day whose holidays its calendar knows; list later holidays or write them as rules in calendars.yaml",
            metadata: [
                "waymark.calendar": "\(calendar)", "waymark.journey": "\(journeyId)", "waymark.clock": "\(clock.name)",
                "waymark.known_until": "\(until)", "waymark.counted_to": "\(latest)",
            ])
    }
}
