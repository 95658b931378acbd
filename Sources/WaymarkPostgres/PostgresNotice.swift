import Synchronization

/// A notice or warning the server sent outside any error.
public struct PostgresNotice: Sendable, Equatable {
    /// NOTICE, WARNING, INFO, LOG or DEBUG.
    public var severity: String
    public var message: String
}

/// The notices a connection received. libpq calls the receiver on the thread running the call.
final class NoticeLog: Sendable {
    private let entries = Mutex<[PostgresNotice]>([])

    func append(_ notice: PostgresNotice) {
        entries.withLock { entries in
            if entries.count >= 1_000 { entries.removeFirst(entries.count - 999) }
            entries.append(notice)
        }
    }

    func take() -> [PostgresNotice] {
        entries.withLock { entries in
            defer { entries = [] }
            return entries
        }
    }
}
