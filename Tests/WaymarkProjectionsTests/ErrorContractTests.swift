import Foundation
import Testing
import WaymarkClient
import WaymarkConsole
import WaymarkDefinitions
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore
import WaymarkNotifications
import WaymarkPostgres
import WaymarkProcessManager
import WaymarkProjections
import WaymarkReactions
import WaymarkRuntime
import WaymarkServer
import WaymarkTesting

/// The error contract across the modules (docs/errors.md): every public error conforms, codes print
/// as documented, are unique per type and listed with their kind.
@Suite struct ErrorContractTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every public error type of the libraries; the compiler checks each conforms.
    static let conforming: [any WaymarkError.Type] = [
        PostgresError.self, MigrationError.self, EventStoreError.self, WrongExpectedVersionError.self, Rejection.self, DefinitionError.self,
        DefinitionLibraryError.self, ClientError.self, CommandConflictError.self, ProjectionError.self, ProjectionCommandError.self,
        EventCodecError.self, ConfigurationError.self, RuntimeError.self, ProcessManagerError.self, NotificationError.self, WebhookSignatureError.self,
        ReactionError.self, RuleInputError.self, ApiError.self, ConsoleError.self,
    ]

    /// Each type's code list, with the name docs/errors.md lists it under.
    static let codeLists: [(type: String, codes: [(name: String, kind: ErrorKind)])] = [
        list("MigrationError", MigrationError.Code.self), list("EventStoreError", EventStoreError.Code.self),
        list("Rejection", Rejection.Code.self), list("DefinitionError", DefinitionError.Code.self), list("EventCodecError", EventCodecError.Code.self),
        list("ConfigurationError", ConfigurationError.Code.self),
        list("RuntimeError", RuntimeError.Code.self), list("ProcessManagerError", ProcessManagerError.Code.self),
        list("DefinitionLibraryError", DefinitionLibraryError.Code.self), list("ClientError", ClientError.Code.self),
        list("ProjectionError", ProjectionError.Code.self), list("ProjectionCommandError", ProjectionCommandError.Code.self),
        list("NotificationError", NotificationError.Code.self), list("WebhookSignatureError", WebhookSignatureError.Code.self),
        list("ReactionError", ReactionError.Code.self), list("RuleInputError", RuleInputError.Code.self), list("ApiError", ApiError.Code.self),
        list("ConsoleError", ConsoleError.Code.self),
        (
            "PostgresError",
            ([.connectionFailure, .decodingFailure, .closed, .clientFailure, .invalidArgument, .cancelled] as [PostgresError.Code]).map { ($0.name, $0.kind) }
        ),
    ]

    static func list<Code: WaymarkErrorCode & CaseIterable>(_ type: String, _: Code.Type) -> (type: String, codes: [(name: String, kind: ErrorKind)]) {
        (type, Code.allCases.map { ($0.name, $0.kind) })
    }

    @Test("every public error type declared in Sources conforms to WaymarkError")
    func everyPublicErrorConforms() throws {
        let declaration = try Regex(#"public (?:final )?(?:struct|enum|class|actor) (\w+)\s*:\s*([^{]+)\{"#)
        var errors: [String: String] = [:]
        let files = FileManager.default.enumerator(at: Self.sources.appendingPathComponent("Sources"), includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: declaration) {
                let name = String(match.output[1].substring ?? "")
                let conformances = (match.output[2].substring ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                if conformances.contains(where: { $0 == "Error" || $0.hasSuffix("Error") }) { errors[name] = conformances.joined(separator: ", ") }
            }
        }
        #expect(errors.count >= Self.conforming.count, "the scan found \(errors.keys.sorted())")
        let listed = Set(Self.conforming.map { String(describing: $0) })
        for (name, conformances) in errors.sorted(by: { $0.key < $1.key }) {
            #expect(conformances.contains("WaymarkError"), "\(name) declares \(conformances), not WaymarkError")
            #expect(listed.contains(name), "\(name) is missing from ErrorContractTests.conforming")
        }
    }

    @Test("codes print as documented: snake_case names, or SQLSTATEs for PostgreSQL")
    func codesPrintAsDocumented() {
        #expect("\(Rejection.Code.transitionNotAllowed)" == "transition_not_allowed")
        let rejection = Rejection(.transitionNotAllowed, "sales cannot move to billing")
        #expect("\(rejection.code)" == "transition_not_allowed")
        #expect("\(rejection)" == "transition_not_allowed: sales cannot move to billing")
        #expect("\(EventStoreError.Code.idempotencyConflict)" == "idempotency_conflict")
        #expect("\(WrongExpectedVersionError(streamName: "journey-1", expected: .noStream, actualVersion: 3))".hasPrefix("wrong_expected_version: "))
        #expect("\(PostgresError(code: "23505", message: "duplicate key"))" == "23505: duplicate key")
        for (type, codes) in Self.codeLists where type != "PostgresError" {
            for code in codes { #expect(code.name.wholeMatch(of: /[a-z][a-z0-9_]*/) != nil, "\(type).\(code.name)") }
        }
    }

    @Test("codes are unique per type")
    func codesUniquePerType() {
        for (type, codes) in Self.codeLists {
            let names = codes.map(\.name)
            #expect(Set(names).count == names.count, "\(type) repeats a code: \(names.sorted())")
            #expect(!names.isEmpty, "\(type)")
        }
    }

    @Test("docs/errors.md lists every code with its kind")
    func codesDocumented() throws {
        let table = try String(contentsOf: Self.sources.appendingPathComponent("docs/errors.md"), encoding: .utf8)
        var documented: [String: String] = [:]
        for line in table.split(separator: "\n") where line.hasPrefix("| Waymark") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            documented["\(cells[1]).\(cells[2].trimmingCharacters(in: CharacterSet(charactersIn: "`")))"] = cells[3]
        }
        for (type, codes) in Self.codeLists {
            for code in codes {
                #expect(documented["\(type).\(code.name)"] == code.kind.name, "docs/errors.md: \(type) \(code.name) should be listed as \(code.kind)")
            }
        }
    }

    @Test("an error report carries code, kind and message, and nothing of an error that is not Waymark's")
    func errorReports() {
        let report = ErrorReport(Rejection(.journeyClosed, "the journey is completed"))
        #expect(report == ErrorReport(code: "journey_closed", kind: .refused, message: "the journey is completed"))
        #expect(report.kind.httpStatus == 422)
        let dataException = PostgresError(code: SQLState.invalidTextRepresentation, message: "invalid input syntax for type uuid: \"ana@example.com\"")
        #expect(ErrorReport(dataException) == ErrorReport(code: "22P02", kind: .invalidInput, message: "invalid input syntax for type uuid"))
        let definition = DefinitionError(file: "journeys.yaml", path: "stages[1]", line: 4, message: "unknown department")
        #expect(ErrorReport(definition).message == "journeys.yaml (line 4, stages[1]): unknown department")
        struct Foreign: Error { var secret = "ana@example.com" }
        #expect(ErrorReport(Foreign()) == ErrorReport(code: "internal_error", kind: .internal, message: "an unexpected error occurred"))
        #expect(Set(ErrorKind.allCases.map(\.httpStatus)) == [400, 404, 409, 422, 503, 500])
    }

    @Test("a projection with a bad name, and a rebuild of an unknown one, are the projections module's errors")
    func projectionErrorsFromTheirModule() async throws {
        let store = try await TestDatabase.freshStore()
        defer { Task { await store.close() } }
        let catalog = JourneyCatalog(try DefinitionLoader.load(directory: configDirectory))
        let projections = standardProjections(catalog: catalog)
        #expect {
            try ProjectionRunner(store: store, projections: [Renamed(inner: projections[0], name: "Bad Name")], logger: TestDatabase.quietLogger)
        } throws: { ($0 as? ProjectionCommandError)?.code == .invalidProjection }
        let runner = try ProjectionRunner(store: store, projections: projections, logger: TestDatabase.quietLogger)
        await #expect {
            try await runner.requestRebuild("nope")
        } throws: { ($0 as? ProjectionCommandError)?.code == .unknownProjection && "\($0)".contains("no projection named 'nope'") }
    }
}

/// A projection under another name, to try names the runner refuses.
private struct Renamed: Projection {
    let inner: any Projection
    let name: String
    var version: Int { inner.version }
    var source: SubscriptionSource { inner.source }
    func createTables(_ tables: ProjectionTables, in transaction: Transaction) async throws { try await inner.createTables(tables, in: transaction) }
    func apply(_ events: [RecordedEvent], to tables: ProjectionTables, in transaction: Transaction) async throws -> Int {
        try await inner.apply(events, to: tables, in: transaction)
    }
    func views(_ tables: ProjectionTables) -> [(name: String, query: PostgresQuery)] { inner.views(tables) }
}
