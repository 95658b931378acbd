import Foundation

/// The time deadlines and deliveries are due in: the wall clock in production, a test clock in tests
/// (read as dates from `origin`; it moves only when the test advances it).
public struct WallTime: Sendable {
    /// What waits are timed by.
    public let clock: any Clock<Duration>
    private let read: @Sendable () -> Date

    /// The system's wall clock; waits on the continuous clock.
    public static var system: WallTime { WallTime(clock: ContinuousClock(), read: { Date() }) }

    /// `clock` read as dates: `origin` at its `now` when this is made.
    public init<C: Clock>(_ clock: C, origin: Date) where C.Duration == Duration {
        let start = clock.now
        self.clock = clock
        read = { origin.addingTimeInterval(Self.seconds(start.duration(to: clock.now))) }
    }

    private init(clock: any Clock<Duration>, read: @escaping @Sendable () -> Date) {
        self.clock = clock
        self.read = read
    }

    public func now() -> Date { read() }

    public static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// `seconds` as a wait, rounded up to the microsecond (never early, never negative).
    public static func duration(_ seconds: Double) -> Duration { .microseconds(Int64((max(seconds, 0) * 1_000_000).rounded(.up))) }
}
