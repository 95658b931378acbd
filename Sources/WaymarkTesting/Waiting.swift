import Foundation
import Testing
import WaymarkEventStore

/// How long a test waits for something to happen before it fails.
///
/// Every wait has a deadline of half a minute (`standard`), multiplied by
/// `WAYMARK_TEST_TIME_SCALE` (default 1) on slow machines: a bug that stops progress fails its
/// test in seconds, saying what it waited for, instead of hanging the suite.
public enum TestTime {
    /// `WAYMARK_TEST_TIME_SCALE`, when it is a positive number; else 1.
    public static let scale: Double = {
        guard let text = ProcessInfo.processInfo.environment["WAYMARK_TEST_TIME_SCALE"], let value = Double(text), value > 0 else { return 1 }
        return value
    }()

    /// The deadline of a wait that names none: 30 seconds before scaling (the whole suite shares two
    /// cores on CI; only a wait that fails waits this long).
    public static let standard: Duration = .seconds(30)

    /// `base` times the scale.
    public static func scaled(_ base: Duration) -> Duration { .seconds(base / .seconds(1) * scale) }

    /// `standard` times the scale: the timeout to hand to a library's own wait
    /// (`waitUntilScheduled`, `waitUntilCaughtUp`), whose default does not scale.
    public static let deadline: Duration = scaled(standard)

    /// A duration as seconds for a message (`10 s`).
    static func text(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1f s", seconds)
    }
}

/// Polls `observe` until `done` accepts what it returned. Past the deadline (`timeout` times
/// `WAYMARK_TEST_TIME_SCALE`) it records a failure saying what it waited for and what it saw last,
/// and returns false.
@discardableResult
public func eventually<Value>(
    _ what: String, timeout: Duration = TestTime.standard, sourceLocation: SourceLocation = #_sourceLocation,
    observing observe: () async throws -> Value, until done: (Value) throws -> Bool
) async throws -> Bool {
    let limit = TestTime.scaled(timeout)
    let deadline = ContinuousClock.now + limit
    while true {
        let seen = try await observe()
        if try done(seen) { return true }
        if ContinuousClock.now >= deadline {
            Issue.record("waited \(TestTime.text(limit)) for \(what); saw last: \(seen)", sourceLocation: sourceLocation)
            return false
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Polls `condition` until it holds. Past the deadline (`timeout` times
/// `WAYMARK_TEST_TIME_SCALE`) it records a failure naming what it waited for, and returns false.
@discardableResult
public func eventually(
    _ what: String, timeout: Duration = TestTime.standard, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws -> Bool {
    try await eventually(what, timeout: timeout, sourceLocation: sourceLocation, observing: condition) { $0 }
}

/// Waits until `subscription` has handled the log up to its head (now), within the deadline;
/// else records a failure with where it stopped and the head it waited for.
@discardableResult
public func caughtUp(
    _ subscription: CatchUpSubscription, of store: EventStore, timeout: Duration = TestTime.standard,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> Bool {
    let limit = TestTime.scaled(timeout)
    let head = try await store.head()
    if try await subscription.waitUntilCaughtUp(to: head, timeout: limit) { return true }
    Issue.record(
        "waited \(TestTime.text(limit)) for subscription \(subscription.name) to reach \(head.lastPosition.map { "\($0)" } ?? "the log's start"); its checkpoint stayed at \(try await subscription.checkpoint())",
        sourceLocation: sourceLocation)
    return false
}

extension Trait where Self == TimeLimitTrait {
    /// A time limit of `minutes` times `WAYMARK_TEST_TIME_SCALE`, rounded up: a limit catches a
    /// hang, and on a slow machine a healthy test under the whole suite's load takes longer.
    public static func scaledTimeLimit(minutes: Int) -> Self {
        .timeLimit(.minutes(Int((Double(minutes) * TestTime.scale).rounded(.up))))
    }
}
