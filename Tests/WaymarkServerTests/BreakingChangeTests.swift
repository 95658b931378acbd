import Foundation
import Testing
import Yams

@Suite("HTTP API: no breaking change under /v1")
struct BreakingChangeTests {
    static let baseline = repositoryDirectory.appendingPathComponent("docs/api/openapi-v1-baseline.yaml")
    static let current = repositoryDirectory.appendingPathComponent("Sources/WaymarkServer/Resources/openapi.yaml")

    static func load(_ url: URL) throws -> [String: Any] {
        try #require(try Yams.load(yaml: try String(contentsOf: url, encoding: .utf8)) as? [String: Any])
    }

    static func load(text: String) throws -> [String: Any] { try #require(try Yams.load(yaml: text) as? [String: Any]) }

    @Test("the contract keeps everything the /v1 baseline promises (a breaking change goes to /v2)")
    func currentKeepsTheBaseline() throws {
        let changes = BreakingChanges(old: try Self.load(Self.baseline), new: try Self.load(Self.current))
        #expect(changes.found.isEmpty, "breaking changes to /v1:\n\(changes.found.joined(separator: "\n"))")
    }

    @Test(
        "each kind of breaking change is caught",
        arguments: [
            ("  /v1/keys/{keyId}:\n    delete:", "  /v1/keys/{keyId}:\n    put:", "DELETE /v1/keys/{keyId}: the operation is gone"),
            ("        replayed: {type: boolean}\n", "", "field replayed is gone"),
            ("enum: [open, acknowledged, resolved]", "enum: [open, acknowledged]", "enum value resolved is gone"),
            ("      required: [role]\n", "      required: [role, label]\n", "POST /v1/keys request: field label is newly required"),
            ("      required: [stream, replayed, events]", "      required: [stream, events]", "field replayed is no longer always answered"),
            ("        - {name: owner, in: query, schema: {type: string}}\n", "", "parameter query.owner is gone"),
        ])
    func caught(old: String, new: String, expected: String) throws {
        let text = try String(contentsOf: Self.current, encoding: .utf8)
        #expect(text.contains(old), "the contract has no '\(old)'")
        let changes = BreakingChanges(old: try Self.load(text: text), new: try Self.load(text: text.replacingOccurrences(of: old, with: new)))
        #expect(changes.found.contains { $0.contains(expected) }, "\(changes.found)")
    }

    @Test("additions are not breaking: a new operation, an optional field, an enum value")
    func additions() throws {
        let text = try String(contentsOf: Self.current, encoding: .utf8)
        let added =
            text
            .replacingOccurrences(of: "enum: [open, acknowledged, resolved]", with: "enum: [open, acknowledged, resolved, snoozed]")
            .replacingOccurrences(
                of: "                label: {type: string}\n", with: "                label: {type: string}\n                team: {type: string}\n")
        #expect(added != text)
        #expect(BreakingChanges(old: try Self.load(text: text), new: try Self.load(text: added)).found.isEmpty)
    }
}
