import Foundation
import WaymarkErrors
import Yams

/// A configuration value that could not be used, with the key and where it was written.
public struct ConfigurationError: WaymarkError, Equatable {
    /// Stable across releases; new codes may be added.
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidValue = "invalid_value"
            case unknownKey = "unknown_key"
            case unreadableFile = "unreadable_file"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A value that is out of range or of the wrong form.
        public static let invalidValue = Code(.invalidValue)
        /// A key the file has that Waymark does not know (usually a typo).
        public static let unknownKey = Code(.unknownKey)
        /// The file is missing, unreadable or not YAML of the expected shape.
        public static let unreadableFile = Code(.unreadableFile)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        /// The operator's configuration is wrong: fix it and start again.
        public var kind: ErrorKind { .invalidInput }
    }

    public var code: Code
    /// The dotted key (`projections.batch_size`), when the error is about one.
    public var key: String?
    /// Where it was written: `waymark.yaml:12`, `WAYMARK_DATABASE_URL`, `--batch-size`.
    public var source: String
    public var message: String

    public init(_ code: Code, key: String?, source: String, message: String) {
        self.code = code
        self.key = key
        self.source = source
        self.message = message
    }

    /// `waymark.yaml:12: projections.batch_size: must be between 1 and 100000, not 0`; an
    /// environment variable or option stands for its key.
    /// The code first, as every `WaymarkError`'s description, then where and what.
    public var description: String { "\(code.name): \(located)" }

    private var located: String {
        guard let key, !source.hasPrefix("--") else { return "\(source): \(message)" }
        if source.hasPrefix("WAYMARK_") { return "\(source) (\(key)): \(message)" }
        return source.isEmpty ? "\(key): \(message)" : "\(source): \(key): \(message)"
    }
}

/// A value given on the command line for a key: `--batch-size 10` is
/// `ConfigurationOverride(key: "projections.batch_size", value: "10", option: "--batch-size")`.
public struct ConfigurationOverride: Sendable {
    public var key: String
    public var value: String
    public var option: String
    public init(key: String, value: String, option: String) {
        self.key = key
        self.value = value
        self.option = option
    }
}

extension WaymarkConfiguration {
    /// The environment variable naming the configuration file when `--config` does not.
    public static let fileVariable = "WAYMARK_CONFIG"
    /// The file read when neither `--config` nor `WAYMARK_CONFIG` names one, if it exists.
    public static let defaultFileName = "waymark.yaml"

    /// The one place configuration is read: defaults, then the file (`file`, else
    /// `$WAYMARK_CONFIG`, else `./waymark.yaml` if there is one), then the environment's
    /// `WAYMARK_…` variables, then `overrides` from the command line.
    public static func load(
        file: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment, overrides: [ConfigurationOverride] = [],
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) throws -> WaymarkConfiguration {
        var configuration = WaymarkConfiguration()
        let named = file.map { ($0, "--config") } ?? environment[fileVariable].flatMap { $0.isEmpty ? nil : ($0, fileVariable) }
        if let (path, source) = named {
            try configuration.read(file: absolute(path, in: workingDirectory), namedBy: source)
        } else {
            let local = absolute(defaultFileName, in: workingDirectory)
            if FileManager.default.fileExists(atPath: local) { try configuration.read(file: local, namedBy: nil) }
        }
        for key in ConfigurationKey.all {
            // An empty variable is unset: a deploy template's blank `WAYMARK_DATABASE_URL=` must not
            // replace the file's URL with "the private local server".
            guard let value = environment[key.environment], !value.isEmpty else { continue }
            try configuration.set(key, value, source: key.environment, relativeTo: nil)
        }
        for override in overrides {
            guard let key = ConfigurationKey.named(override.key) else {
                preconditionFailure("an option overrides \(override.key), which is no configuration key")
            }
            try configuration.set(key, override.value, source: override.option, relativeTo: nil)
        }
        return configuration
    }

    /// Applies `text` to `key`, recording its origin; a refusal names the key and the source.
    mutating func set(_ key: ConfigurationKey, _ text: String?, source: String, relativeTo folder: String?) throws {
        var value = text
        if key.isPath, let text, !text.isEmpty, let folder { value = absolute(text, in: folder) }
        do {
            try key.apply(&self, value)
        } catch {
            throw ConfigurationError(.invalidValue, key: key.name, source: source, message: error.message)
        }
        origins[key.name] = source
    }

    /// Reads a `waymark.yaml`: nested mappings of known keys; an unknown key is an error naming it
    /// and its line, since a typo would otherwise silently leave the default in place.
    mutating func read(file path: String, namedBy option: String?) throws {
        let shown =
            path.hasPrefix(FileManager.default.currentDirectoryPath + "/")
            ? String(path.dropFirst(FileManager.default.currentDirectoryPath.count + 1)) : path
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            var isDirectory: ObjCBool = false
            let folder = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            throw ConfigurationError(
                .unreadableFile, key: nil, source: option.map { "\($0) \(shown)" } ?? shown,
                message: folder
                    ? "is a folder; the configuration is a file such as waymark.yaml (the definitions folder is definitions.directory, --definitions)"
                    : "no such file, or it cannot be read")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            // Yams' description quotes the offending line, which may hold a password: say where only.
            throw ConfigurationError(.unreadableFile, key: nil, source: shown, message: "not valid YAML: \(Self.syntaxProblem(error))")
        }
        guard let root else { return }  // an empty file: all defaults
        let folder = (path as NSString).deletingLastPathComponent
        try walk(root, prefix: "", file: shown, folder: folder)
    }

    private mutating func walk(_ node: Node, prefix: String, file: String, folder: String) throws {
        guard let mapping = node.mapping else {
            let line = node.mark.map { ":\($0.line)" } ?? ""
            throw ConfigurationError(
                .unreadableFile, key: prefix.isEmpty ? nil : prefix, source: file + line, message: "must be a mapping of keys to values")
        }
        for (keyNode, value) in mapping {
            let line = keyNode.mark.map { ":\($0.line)" } ?? ""
            guard let name = keyNode.scalar?.string else {
                throw ConfigurationError(.unreadableFile, key: nil, source: file + line, message: "a key must be a plain word")
            }
            let key = prefix.isEmpty ? name : "\(prefix).\(name)"
            if ConfigurationKey.sections.contains(key) {
                try walk(value, prefix: key, file: file, folder: folder)
            } else if let known = ConfigurationKey.named(key) {
                guard let scalar = value.scalar else {
                    throw ConfigurationError(.invalidValue, key: key, source: file + line, message: "must be a single value, not a list or mapping")
                }
                let isNull = scalar.style == .plain && ["~", "null", "Null", "NULL", ""].contains(scalar.string)
                try set(known, isNull ? nil : scalar.string, source: file + line, relativeTo: folder)
            } else {
                let siblings = ConfigurationKey.all.map(\.name).filter { $0.hasPrefix(prefix.isEmpty ? "" : prefix + ".") }
                    .map { String($0.dropFirst(prefix.isEmpty ? 0 : prefix.count + 1).prefix { $0 != "." }) }
                var seen = Set<String>()
                let known = siblings.filter { seen.insert($0).inserted }.joined(separator: ", ")
                throw ConfigurationError(
                    .unknownKey, key: key, source: file + line, message: "unknown key; \(prefix.isEmpty ? "the file" : prefix) has \(known)")
            }
        }
    }
}

/// `path` made absolute against `folder`.
extension WaymarkConfiguration {
    /// The line and problem of a YAML syntax error, without the quoted text.
    static func syntaxProblem(_ error: any Error) -> String {
        guard let error = error as? YamlError else { return "the file could not be parsed" }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let what = [context.map { "\($0.text)" }, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return "line \(mark.line): \(what)"
        default:
            return "the file could not be parsed"
        }
    }
}

private func absolute(_ path: String, in folder: String) -> String {
    if path.hasPrefix("/") { return path }
    if path.hasPrefix("~/") { return (path as NSString).expandingTildeInPath }
    return URL(fileURLWithPath: folder).appendingPathComponent(path).standardizedFileURL.path
}
