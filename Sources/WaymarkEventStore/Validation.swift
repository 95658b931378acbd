import Foundation

extension EventStore {
    static func validateName(_ name: String, what describe: @autoclosure () -> String) throws {
        // The common case, printable ASCII within the limit, needs one pass over the bytes and no
        // description.
        if !name.isEmpty, name.utf8.count <= maxNameLength, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) { return }
        let what = describe()
        if name.isEmpty { throw EventStoreError(.invalidInput, "\(what) must not be empty") }
        var length = 0
        for scalar in name.unicodeScalars {
            length += 1
            // ASCII names (the common case) need no Unicode property lookup.
            let forbidden =
                scalar.isASCII ? (scalar.value <= 0x20 || scalar.value == 0x7f) : scalar.properties.isWhitespace || (0x80...0x9f).contains(scalar.value)
            if forbidden { throw EventStoreError(.invalidInput, "\(what) '\(name)' must not contain whitespace or control characters") }
        }
        if length > maxNameLength { throw EventStoreError(.invalidInput, "\(what) '\(name.prefix(40))…' is longer than \(maxNameLength) characters") }
    }

    static func validateStreamName(_ name: String) throws {
        try validateName(name, what: "stream name")
        if name.hasPrefix("-") { throw EventStoreError(.invalidInput, "stream name '\(name)' must not start with '-' (its category would be empty)") }
    }

    static func validateCategory(_ name: String) throws {
        try validateName(name, what: "category")
        if name.contains("-") {
            throw EventStoreError(.invalidInput, "category '\(name)' must not contain '-': a category is the stream-name prefix before the first '-'")
        }
    }

    func validate(stream: String, events: [EventData], expected: ExpectedVersion) throws {
        try Self.validateStreamName(stream)
        if events.isEmpty { throw EventStoreError(.invalidInput, "an append to stream \(stream) needs at least one event") }
        if events.count > Self.maxBatchSize {
            throw EventStoreError(.invalidInput, "an append holds at most \(Self.maxBatchSize) events; this one has \(events.count)")
        }
        if case .exact(let version) = expected, version < 0 {
            throw EventStoreError(.invalidInput, "expected version \(version) is negative; versions count events from 0 (no stream)")
        }
        var ids = Set<UUID>(minimumCapacity: events.count > 1 ? events.count : 0)
        for (index, event) in events.enumerated() {
            try Self.validateName(event.type, what: "event type (event \(index + 1) of the batch)")
            if event.data.isEmpty { throw EventStoreError(.invalidEventData, "event \(event.id) (\(event.type)) has empty data; send JSON such as {}") }
            if event.data.containsNUL {
                throw EventStoreError(.invalidEventData, "event \(event.id) (\(event.type)) data contains a NUL character; JSON text cannot hold one")
            }
            if events.count > 1 && !ids.insert(event.id).inserted {
                throw EventStoreError(.invalidInput, "the batch for stream \(stream) repeats event id \(event.id)")
            }
            for key in event.metadata.extra.keys where key.isEmpty {
                throw EventStoreError(.invalidInput, "event \(event.id) has an empty metadata key")
            }
        }
    }

}
