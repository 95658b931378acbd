import Foundation
import WaymarkErrors
import Yams

/// A refused configuration file: which file, where in it, and what is wrong.
public struct DefinitionError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidDefinition = "invalid_definition"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A definition file (journeys, calendars, consent, rules) that does not parse or breaks
        /// the rules.
        public static let invalidDefinition = Code(.invalidDefinition)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        /// The configuration shipped with a deployment is wrong: a fault to fix.
        public var kind: ErrorKind { .internal }
    }

    public let code = Code.invalidDefinition
    public var file: String
    /// Where in the file, as a path of keys and indexes (`transitions[2].to`); empty for the file.
    public var path: String
    /// The line of the offending node, when the YAML parser reported one.
    public var line: Int?
    public var message: String

    public init(file: String, path: String, line: Int?, message: String) {
        self.file = file
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        let place = [line.map { "line \($0)" }, path.isEmpty ? nil : path].compactMap { $0 }.joined(separator: ", ")
        return "\(code): \(file)\(place.isEmpty ? "" : " (\(place))"): \(message)"
    }
}

/// A node of a parsed YAML file with the path that leads to it, for checked reading with errors
/// that say where. Public so that other modules' configuration files (notifications) read and
/// fail the same way.
public struct YAMLValue {
    let node: Node
    /// Where the node is, as a path of keys and indexes (`endpoints.ops.url`).
    public let path: String
    public let file: String

    /// The node's line, when the parser recorded one.
    public var line: Int? { node.mark?.line }

    /// Whether the node is a list (for keys that take one value or several).
    public var isSequence: Bool { node.sequence != nil }

    public static func parse(_ yaml: String, file: String) throws -> YAMLValue {
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw DefinitionError(file: file, path: "", line: nil, message: "the file is empty")
            }
            return YAMLValue(node: node, path: "", file: file)
        } catch let error as YamlError {
            throw DefinitionError(file: file, path: "", line: Self.line(of: error), message: "YAML syntax error: \(Self.problem(of: error))")
        }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
            return [context.map { "\($0.text)" }, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
        case .duplicatedKeysInMapping(let duplicates, _):
            return "a key appears twice: \(duplicates.joined(separator: ", "))"
        default:
            return "\(error)"
        }
    }

    public func fail(_ message: String) -> DefinitionError {
        DefinitionError(file: file, path: path, line: node.mark?.line, message: message)
    }

    private func child(_ node: Node, _ key: String) -> YAMLValue {
        YAMLValue(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    /// The mapping's entries; refuses keys outside `allowed`, which catches typos.
    public func mapping(allowed: Set<String>) throws -> [String: YAMLValue] {
        guard let mapping = node.mapping else { throw fail("expected a mapping of keys to values") }
        var out: [String: YAMLValue] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw fail("a key is not text") }
            guard allowed.contains(name) else {
                throw child(value, name).fail("unknown key '\(name)'; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            out[name] = child(value, name)
        }
        return out
    }

    /// The entries of a mapping whose keys are names chosen by the author (calendars, weekdays).
    public func namedEntries() throws -> [(String, YAMLValue)] {
        guard let mapping = node.mapping else { throw fail("expected a mapping of names to values") }
        return try mapping.map { key, value in
            guard let name = key.string, !name.isEmpty else { throw fail("a key is empty or not text") }
            return (name, child(value, name))
        }
    }

    public func sequence() throws -> [YAMLValue] {
        guard let sequence = node.sequence else { throw fail("expected a list") }
        return sequence.enumerated().map { index, node in YAMLValue(node: node, path: "\(path)[\(index)]", file: file) }
    }

    public func string() throws -> String {
        guard let scalar = node.scalar else { throw fail("expected a text value") }
        let text = scalar.string.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { throw fail("must not be empty") }
        return text
    }

    /// A name: letters, digits and `-`, starting with a letter (stage, department, tier, milestone).
    public func name() throws -> String { try Self.name(try string(), at: self) }

    /// `text` as a name (a key chosen by the author, such as a rule's id), or an error at `value`.
    static func name(_ text: String, at value: YAMLValue) throws -> String {
        guard let first = text.unicodeScalars.first, first.properties.isAlphabetic,
            text.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" }),
            text.count <= 100
        else {
            throw value.fail("'\(text)' is not a name: letters, digits and '-', starting with a letter, at most 100 characters")
        }
        return text
    }

    public func names() throws -> [String] {
        let values = try sequence()
        let names = try values.map { try $0.name() }
        if let repeated = names.enumerated().first(where: { index, name in names[..<index].contains(name) }) {
            throw values[repeated.offset].fail("'\(repeated.element)' is listed twice")
        }
        return names
    }

    public func integer(in range: ClosedRange<Int>) throws -> Int {
        let text = try string()
        guard let value = Int(text), range.contains(value) else {
            throw fail("expected a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return value
    }

    public func bool() throws -> Bool {
        guard let value = node.bool else { throw fail("expected true or false") }
        return value
    }

    public func duration() throws -> BusinessDuration {
        let text = try string()
        if text.hasPrefix("-") { throw fail("the duration '\(text)' is negative") }
        guard let duration = BusinessDuration(parsing: text) else {
            throw fail("'\(text)' is not a duration: write whole numbers with units d, h, m or s, such as 90m, 36h, 5d or 1d12h")
        }
        guard duration.seconds > 0 else { throw fail("the duration '\(text)' is zero") }
        return duration
    }
}

extension [String: YAMLValue] {
    public func required(_ key: String, in parent: YAMLValue) throws -> YAMLValue {
        guard let value = self[key] else {
            let path = parent.path.isEmpty ? key : "\(parent.path).\(key)"
            throw DefinitionError(file: parent.file, path: path, line: parent.node.mark?.line, message: "'\(key)' is missing")
        }
        return value
    }
}
