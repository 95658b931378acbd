import Synchronization

/// Stretches of the global log read by the subscriptions of one process, kept until each of them
/// has passed: several projections catching up side by side then read the log from the database
/// once between them, not once each.
///
/// A page holds every event of `source` in (after, end], read below the horizon: no transaction
/// that could still add an event to that range was running, so a page never goes stale. It serves
/// any subscription whose source it covers, filtered here. A subscription that finds no page
/// reads one of the cache's `source` for the others while there is room (about `capacity` events
/// ahead of the slowest subscription) or when it is the slowest; otherwise a paced one (a build
/// catching up) waits for the slowest to pass a page, and any other reads only its own events, as
/// without a cache. So the builds read each stretch once between them, a fast one runs at most
/// that far ahead, a subscription at the head is never held back, and a stopped one holds nothing.
/// Two subscriptions at the same position read one page: the second waits for the first's.
public final class LogPageCache: Sendable {
    /// A page of the cache's source: the events after `after` up to `slice.nextPosition`.
    struct Page {
        let after: GlobalPosition
        let slice: GlobalSlice
        /// The page's categories, and each event's as an index into them: serving a source filters
        /// on these small numbers instead of going to every event's box (each subscription
        /// filters every page).
        let categories: [String]
        let categoryIndexes: [UInt32]

        init(after: GlobalPosition, slice: GlobalSlice) {
            self.after = after
            self.slice = slice
            var categories: [String] = []
            var known: [String: UInt32] = [:]
            var indexes: [UInt32] = []
            indexes.reserveCapacity(slice.events.count)
            for event in slice.events {
                let category = event.category
                // Most events are of the category of the one before.
                if let last = indexes.last, categories[Int(last)] == category {
                    indexes.append(last)
                } else if let index = known[category] {
                    indexes.append(index)
                } else {
                    let index = UInt32(categories.count)
                    known[category] = index
                    categories.append(category)
                    indexes.append(index)
                }
            }
            self.categories = categories
            categoryIndexes = indexes
        }
    }

    struct State {
        var pages: [Page] = []
        var events = 0
        /// Each running subscription's position, by subscription name.
        var positions: [String: GlobalPosition] = [:]
        /// Where the pages being read now start.
        var reading: Set<GlobalPosition> = []
        var usage = Usage()
    }

    /// Reads served from pages, and pages read from the database to share.
    public struct Usage: Sendable, Equatable {
        public var served = 0
        public var pagesRead = 0
    }

    /// What pages are read of: the sources of every subscription sharing the cache.
    public let source: SubscriptionSource
    /// What pages hold of each event's metadata: a subscription wanting more reads alone.
    public let metadata: MetadataFields
    /// Events over all pages past which no new page is kept (subscriptions filling it at the same
    /// moment may each add one page more).
    public let capacity: Int
    private let state = Mutex(State())

    public init(source: SubscriptionSource, metadata: MetadataFields = .all, capacity: Int = 200_000) {
        self.source = source
        self.metadata = metadata
        self.capacity = capacity
    }

    /// Whether pages have every event and field a subscription to `source` wanting `metadata` gets.
    func serves(_ source: SubscriptionSource, _ metadata: MetadataFields) -> Bool {
        self.source.covers(source) && self.metadata.covers(metadata)
    }

    /// Events held now, over all pages.
    public var count: Int { state.withLock { $0.events } }

    public var usage: Usage { state.withLock { $0.usage } }

    /// The events of `source` after `position`, at most `limit` of them, when a page holds
    /// `position`; nil otherwise. Never the end: the log may have grown since the page was read.
    func slice(of source: SubscriptionSource, after position: GlobalPosition, limit: Int) -> GlobalSlice? {
        guard self.source.covers(source) else { return nil }
        let page: Page? = state.withLock { state in
            var best: Page?
            for page in state.pages where page.after <= position && position < page.slice.nextPosition {
                if best.map({ page.slice.nextPosition > $0.slice.nextPosition }) ?? true { best = page }
            }
            if best != nil { state.usage.served += 1 }
            return best
        }
        guard var served = page?.serving(source, after: position, limit: limit) else { return nil }
        served.isEnd = false
        return served
    }

    /// What a subscription that found no page at its position does next.
    enum Plan: Equatable {
        /// Read a page of the cache's `source` after the position, then `insert` it.
        case readPage
        /// Look again soon: a page that may hold the position is being read, or the pages are
        /// full and the slowest subscription is about to pass one.
        case wait
        /// Read only its own events.
        case readOwn
    }

    /// What subscription `name` (reading `source`, at `position`) does when no page holds its
    /// position. `paced`: it would rather wait for room than read alone. Waiting ends when a page
    /// serves it (`slice`), when it may read one, or when the caller stops asking for `.wait`.
    func plan(_ name: String, for source: SubscriptionSource, at position: GlobalPosition, paced: Bool, mayWait: Bool) -> Plan {
        guard self.source.covers(source) else { return .readOwn }
        return state.withLock { state in
            if state.reading.contains(position) { return mayWait ? .wait : .readOwn }
            // The slowest one's page is the next every reader behind the pages needs: read even
            // when full, else a reader that fell into a gap would read alone until the end.
            let slowest = state.positions.values.min().map { $0 == position && state.positions[name] == position } ?? true
            if state.events < capacity || slowest {
                state.reading.insert(position)
                return .readPage
            }
            return paced && mayWait ? .wait : .readOwn
        }
    }

    /// Whether a page read now would be kept (tests).
    func hasRoom(for source: SubscriptionSource) -> Bool {
        self.source.covers(source) && state.withLock { $0.events } < capacity
    }

    /// Keeps `page`, a page of the cache's `source` read after `position` (nil when the read
    /// failed), and ends the read `plan` started.
    func insert(_ page: Page?, after position: GlobalPosition) {
        state.withLock { state in
            state.reading.remove(position)
            guard let page, page.slice.nextPosition > position else { return }
            state.pages.append(page)
            state.events += page.slice.events.count
            state.usage.pagesRead += 1
        }
    }

    /// Notes that subscription `name` reads after `position` from now on, and drops the pages
    /// every running subscription has passed.
    func move(_ name: String, to position: GlobalPosition) {
        state.withLock { state in
            state.positions[name] = position
            state.dropPassedPages()
        }
    }

    /// Subscription `name` stopped: it holds no page any more.
    func leave(_ name: String) {
        state.withLock { state in
            state.positions[name] = nil
            state.dropPassedPages()
        }
    }
}

extension LogPageCache.State {
    mutating func dropPassedPages() {
        guard let slowest = positions.values.min() else {
            pages = []
            events = 0
            return
        }
        pages.removeAll { page in
            guard page.slice.nextPosition <= slowest else { return false }
            events -= page.slice.events.count
            return true
        }
    }
}

extension LogPageCache.Page {
    /// The events of `source` after `position` in this page, at most `limit`: the slice ends with
    /// the page, or at the `limit`-th event.
    func serving(_ source: SubscriptionSource, after position: GlobalPosition, limit: Int) -> GlobalSlice {
        let events = slice.events
        // Events are in global order: the first after `position` by binary search.
        var low = 0
        var high = events.count
        while low < high {
            let middle = (low + high) / 2
            if events[middle].position <= position { low = middle + 1 } else { high = middle }
        }
        let wanted = categories.map(source.includes(category:))
        var served: [RecordedEvent] = []
        served.reserveCapacity(min(limit, events.count - low))
        for index in low..<events.count {
            guard wanted[Int(categoryIndexes[index])] else { continue }
            served.append(events[index])
            if served.count == limit { return GlobalSlice(events: served, nextPosition: events[index].position, isEnd: false) }
        }
        return GlobalSlice(events: served, nextPosition: max(slice.nextPosition, position), isEnd: slice.isEnd)
    }
}

extension SubscriptionSource {
    func includes(_ event: RecordedEvent) -> Bool {
        switch self {
        case .all: return true
        case .category(let category): return event.isIn(category: category)
        case .categories(let categories): return categories.contains { event.isIn(category: $0) }
        }
    }

    func includes(category: String) -> Bool {
        switch self {
        case .all: return true
        case .category(let mine): return mine == category
        case .categories(let mine): return mine.contains(category)
        }
    }

    /// Whether every event of `other` is one of this source's.
    func covers(_ other: SubscriptionSource) -> Bool {
        switch (self, other) {
        case (.all, _): return true
        case (_, .all): return false
        case (.category(let mine), .category(let theirs)): return mine == theirs
        case (.category(let mine), .categories(let theirs)): return theirs.allSatisfy { $0 == mine }
        case (.categories(let mine), .category(let theirs)): return mine.contains(theirs)
        case (.categories(let mine), .categories(let theirs)): return Set(theirs).isSubset(of: mine)
        }
    }

    /// A source of the events of every one of `sources`.
    public static func union(_ sources: [SubscriptionSource]) -> SubscriptionSource {
        var categories: [String] = []
        for source in sources {
            switch source {
            case .all: return .all
            case .category(let category): categories.append(category)
            case .categories(let more): categories.append(contentsOf: more)
            }
        }
        let distinct = Array(Set(categories)).sorted()
        return distinct.count == 1 ? .category(distinct[0]) : .categories(distinct)
    }
}
