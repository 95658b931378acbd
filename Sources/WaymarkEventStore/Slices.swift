/// A page of one stream.
public struct StreamSlice: Sendable {
    public var streamName: String
    public var events: [RecordedEvent]
    /// The version to continue from, or nil when the read reached the end (or start) of the stream.
    public var nextVersion: Int64?
    public var isEnd: Bool { nextVersion == nil }
}

/// A page of the global log or a category.
public struct GlobalSlice: Sendable {
    public var events: [RecordedEvent]
    /// Read the next page after this position.
    public var nextPosition: GlobalPosition
    /// True when fewer events than asked for were readable. Events committed by transactions newer
    /// than one still open are not readable yet (see `EventStore.head()`), so this does not prove
    /// the reader has seen every committed event.
    public var isEnd: Bool
}

/// The end of the global log as one statement saw it.
public struct LogHead: Sendable, Equatable {
    /// The position of the newest committed event; nil while the log is empty.
    public var lastPosition: GlobalPosition?
    /// Every transaction with an id below this had finished: readers return the events of those
    /// transactions and hold back the rest until the older open transactions end.
    public var horizon: UInt64

    public init(lastPosition: GlobalPosition?, horizon: UInt64) {
        self.lastPosition = lastPosition
        self.horizon = horizon
    }

    /// Whether committed events wait behind a transaction that is still open: a reader that got
    /// a short page is then held back, not caught up.
    public var isHeldBack: Bool {
        guard let lastPosition else { return false }
        return lastPosition.transactionId >= horizon
    }
}

public enum ReadDirection: String, Sendable {
    case forward
    case backward
}
