import Foundation
import Synchronization
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore

/// Every journey definition version ever used, kept in the log: a journey is decided, projected
/// and (later) watched under the version it started with, even after its file changed or was
/// removed.
///
/// Each version is recorded once, when a client first starts a journey under it, as a
/// `DefinitionVersionRecorded` event on `definition-<journey type>` holding the file's text; the
/// event's id is derived from the version, so every process recording the same version writes one
/// event between them. The stream is also the audit of which version was in use when. A library
/// starts from the configuration's files and learns recorded versions from the log when it meets
/// one it does not know (`refresh`).
public final class DefinitionLibrary: Sendable {
    public static let category = "definition"
    public static let eventType = "DefinitionVersionRecorded"

    private struct Known: Sendable {
        var catalog: JourneyCatalog
        /// Versions known to be in the log.
        var recorded: Set<String> = []
        /// How far the log's definition streams have been read.
        var readUpTo: GlobalPosition = .start
        /// Recorded versions that cannot be read with today's configuration, and why.
        var unreadable: [String: String] = [:]
    }

    private let known: Mutex<Known>

    /// A library knowing the definitions of `catalog` (the configuration's files).
    public init(_ catalog: JourneyCatalog) {
        known = Mutex(Known(catalog: catalog))
    }

    /// The definitions known now: the current files and every recorded version read so far.
    public var catalog: JourneyCatalog { known.withLock { $0.catalog } }

    /// The stream of `journeyType`'s versions.
    public static func streamName(journeyType: String) -> String { "\(category)-\(journeyType)" }

    /// The id of the event recording `version` of `journeyType`: the same in every process.
    public static func eventID(journeyType: String, version: String) -> UUID {
        DerivedUUID.of(Data("waymark-definition\u{0}\(journeyType)\u{0}\(version)".utf8))
    }

    /// What the log records of a version.
    struct Recorded: Codable {
        var journeyType: String
        var version: String
        /// The definition file's text.
        var source: String
    }

    /// Records `definition` in the log unless this library knows it is there: before the first
    /// journey starts under it, so that every reader meets the version before the journey.
    public func record(_ definition: JourneyDefinition, in store: EventStore) async throws {
        let version = definition.version.description
        if known.withLock({ $0.recorded.contains(version) }) { return }
        guard !definition.source.isEmpty else {
            throw DefinitionLibraryError(
                .notRecordable, "definition \(version) of \(definition.journeyType) was not read from a file; only a loaded file can be recorded")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Recorded(journeyType: definition.journeyType, version: version, source: definition.source))
        _ = try await store.append(
            to: Self.streamName(journeyType: definition.journeyType), expected: .any,
            events: [
                EventData(
                    id: Self.eventID(journeyType: definition.journeyType, version: version), type: Self.eventType,
                    data: String(decoding: data, as: UTF8.self), metadata: EventMetadata(sourceSystem: "waymark"))
            ])
        known.withLock { _ = $0.recorded.insert(version) }
    }

    /// The definition of `version` of `journeyType`: known already, or found by its recording's id
    /// in the log (also a recording not yet below the readers' horizon). Throws when the log does
    /// not record it either, or it cannot be read with today's calendars.
    public func definition(journeyType: String, version: String, in store: EventStore) async throws -> JourneyDefinition {
        if let definition = catalog.definition(version: version) { return definition }
        if let event = try await store.event(withId: Self.eventID(journeyType: journeyType, version: version)) {
            learn([event])
            if let definition = catalog.definition(version: version) { return definition }
        }
        throw unknown(journeyType: journeyType, version: version)
    }

    /// Learns every version recorded in the log that this library has not read yet, as
    /// `transaction` sees the log (a projection's batch: every version a journey of the batch
    /// started under is recorded before it).
    public func refresh(in transaction: Transaction) async throws {
        var position = known.withLock { $0.readUpTo }
        while true {
            let slice = try await transaction.readCategory(Self.category, after: position, limit: 1000)
            learn(slice.events)
            position = slice.nextPosition
            known.withLock { $0.readUpTo = max($0.readUpTo, position) }
            if slice.isEnd || slice.events.isEmpty { return }
        }
    }

    /// Learns every version recorded in the log that this library has not read yet.
    public func refresh(from store: EventStore) async throws {
        try await store.transaction { try await self.refresh(in: $0) }
    }

    /// The error for a version neither the files nor the log know.
    public func unknown(journeyType: String, version: String) -> DefinitionLibraryError {
        if let problem = known.withLock({ $0.unreadable[version] }) {
            return DefinitionLibraryError(.unreadable, "definition \(version) of \(journeyType) is recorded in the log but cannot be read: \(problem)")
        }
        return DefinitionLibraryError(
            .unknownVersion,
            "definition \(version) of \(journeyType) is known nowhere: not in config/journeys and not recorded in the log (stream \(Self.streamName(journeyType: journeyType)))"
        )
    }

    private func learn(_ events: [RecordedEvent]) {
        var definitions: [JourneyDefinition] = []
        var problems: [String: String] = [:]
        let calendars = catalog.calendars
        for event in events where event.type == Self.eventType {
            guard let recorded = try? event.decode(Recorded.self) else {
                problems["event \(event.id)"] = "its data is no recorded definition"
                continue
            }
            do {
                let definition = try DefinitionLoader.parseJourney(
                    recorded.source, file: "the recorded definition \(recorded.version)", calendars: calendars)
                guard definition.version.description == recorded.version else {
                    problems[recorded.version] = "its text hashes to \(definition.version), not \(recorded.version)"
                    continue
                }
                definitions.append(definition)
            } catch {
                // A calendar it names was removed from calendars.yaml, for example.
                problems[recorded.version] = "\(error)"
            }
        }
        known.withLock { known in
            known.catalog = known.catalog.adding(definitions)
            for definition in definitions { known.recorded.insert(definition.version.description) }
            known.unreadable.merge(problems) { _, new in new }
        }
    }
}

/// A definition version that cannot be had.
public struct DefinitionLibraryError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case unknownVersion = "unknown_definition_version"
            case unreadable = "unreadable_definition_version"
            case notRecordable = "definition_not_recordable"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Neither the configuration's files nor the log know the version.
        public static let unknownVersion = Code(.unknownVersion)
        /// The log records it, but it does not load with today's configuration (a calendar it
        /// names is gone).
        public static let unreadable = Code(.unreadable)
        /// A definition built in code, with no file text to record.
        public static let notRecordable = Code(.notRecordable)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }

        public var kind: ErrorKind {
            switch base {
            case .unknownVersion: return .notFound
            case .unreadable, .notRecordable: return .internal
            }
        }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
