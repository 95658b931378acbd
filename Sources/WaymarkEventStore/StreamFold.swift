/// Something that reads a stream as of now: a session or a transaction.
public protocol StreamReading {
    func readStream(_ stream: String, from version: Int64?, direction: ReadDirection, limit: Int) async throws -> StreamSlice
}

extension Session: StreamReading {}
extension Transaction: StreamReading {}

extension StreamReading {
    /// Folds every event of `stream` into a state with `apply`, page by page; returns the state and
    /// the stream's version (events `apply` ignores count toward it too).
    public func fold<State>(_ stream: String, into initial: State, _ apply: (State, RecordedEvent) throws -> State) async throws -> (State, Int64) {
        var state = initial
        var version: Int64 = 0
        var from: Int64 = 1
        while true {
            let page = try await readStream(stream, from: from, direction: .forward, limit: 500)
            for recorded in page.events {
                state = try apply(state, recorded)
                version = recorded.streamVersion
            }
            guard let next = page.nextVersion else { return (state, version) }
            from = next
        }
    }
}
extension EventStore: StreamReading {}
