import Foundation
import Mustache
import WaymarkDomain

/// A value a template renders: text for `{{name}}`, a flag for `{{#name}}…{{/name}}`.
public enum TemplateValue: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral {
    case text(String)
    case flag(Bool)

    public init(stringLiteral value: String) { self = .text(value) }
    public init(booleanLiteral value: Bool) { self = .flag(value) }

    var rendered: Any {
        switch self {
        case .text(let text): return RenderedText(renderText: text)
        case .flag(let flag): return flag
        }
    }
}

/// Text as swift-mustache renders it: found by its first cast, where a `String` went through
/// several failed casts and a reflection of its value per variable.
struct RenderedText: MustacheCustomRenderable {
    let renderText: String
    var isNull: Bool { false }
}

/// The notification channels Waymark delivers on.
public enum NotificationChannel: String, Sendable, CaseIterable, Codable {
    /// A signed CloudEvents POST to the endpoint configured for the recipient.
    case webhook
    /// A line in the process's log, for the demo and tests.
    case log
}

/// A rendered message and the locale it was rendered in after fallback.
public struct RenderedMessage: Sendable, Equatable {
    public var template: String
    public var channel: NotificationChannel
    public var locale: String
    public var text: String
}

/// The message templates in `config/templates/`, checked at load.
///
/// `templates.yaml` declares each template: its audience, the variables it may use, its channels
/// and locales. Each (channel, locale) pair has a file `<template>.<channel>.<locale>.mustache`.
/// Load fails, naming file and line, when a declared file is missing, a file is not declared, or a
/// template uses a variable its declaration does not list; rendering fails when the values lack a
/// declared variable. So a missing variable is found at load, not sent as an empty string.
public struct NotificationTemplates: Sendable {
    public struct Declaration: Sendable, Equatable {
        public enum Audience: String, Sendable { case role, customer }
        public var name: String
        public var audience: Audience
        public var variables: Set<String>
        public var channels: Set<NotificationChannel>
        public var locales: Set<String>
    }

    public static let indexFileName = "templates.yaml"
    public static let fileExtension = "mustache"

    /// Where a locale without its own file falls back to after its language (`de-CH` → `de`).
    public let defaultLocale: String
    public let declarations: [String: Declaration]
    private let templates: [FileKey: MustacheTemplate]

    private struct FileKey: Hashable, Sendable {
        var template: String
        var channel: NotificationChannel
        var locale: String
    }

    public static func fileName(template: String, channel: NotificationChannel, locale: String) -> String {
        "\(template).\(channel.rawValue).\(locale).\(fileExtension)"
    }

    /// Reads `templates.yaml` and every template it declares from `directory` (`config/templates`).
    public static func load(directory: URL) throws -> NotificationTemplates {
        let indexURL = directory.appendingPathComponent(indexFileName)
        let declarations = try TemplateIndex.parse(try DefinitionLoader.read(indexURL), file: indexURL.path)
        var templates: [FileKey: MustacheTemplate] = [:]
        var expected: Set<String> = []
        for declaration in declarations.entries.values.sorted(by: { $0.declaration.name < $1.declaration.name }) {
            for channel in declaration.declaration.channels.sorted(by: { $0.rawValue < $1.rawValue }) {
                for locale in declaration.declaration.locales.sorted() {
                    let name = fileName(template: declaration.declaration.name, channel: channel, locale: locale)
                    expected.insert(name)
                    let url = directory.appendingPathComponent(name)
                    guard FileManager.default.fileExists(atPath: url.path) else {
                        throw declaration.value.fail(
                            "template '\(declaration.declaration.name)' declares channel \(channel.rawValue) and locale \(locale), but \(url.path) is missing")
                    }
                    templates[FileKey(template: declaration.declaration.name, channel: channel, locale: locale)] = try compile(
                        try DefinitionLoader.read(url), file: url.path, declaration: declaration.declaration)
                }
            }
        }
        let present = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        if let stray = present.sorted().first(where: { $0.hasSuffix(".\(fileExtension)") && !expected.contains($0) }) {
            throw DefinitionError(
                file: directory.appendingPathComponent(stray).path, path: "", line: nil,
                message:
                    "no template in \(indexFileName) declares this file: name files <template>.<channel>.<locale>.\(fileExtension) and declare the template, channel and locale"
            )
        }
        return NotificationTemplates(
            defaultLocale: declarations.defaultLocale, declarations: declarations.entries.mapValues(\.declaration), templates: templates)
    }

    /// Checks the tags against the declaration, then lets swift-mustache parse (unbalanced sections).
    static func compile(_ text: String, file: String, declaration: Declaration) throws -> MustacheTemplate {
        var open: [TemplateTag] = []
        for tag in try TemplateScanner.tags(in: text, file: file) {
            switch tag.kind {
            case .close:
                guard let last = open.popLast(), last.name == tag.name else {
                    throw DefinitionError(file: file, path: "", line: tag.line, message: "'{{/\(tag.name)}}' closes no open '{{#\(tag.name)}}' section")
                }
                continue
            case .section, .invertedSection: open.append(tag)
            case .variable: break
            }
            guard declaration.variables.contains(tag.name) else {
                throw DefinitionError(
                    file: file, path: "", line: tag.line,
                    message:
                        "uses '\(tag.name)', which \(indexFileName) does not declare for template '\(declaration.name)'; declared: \(declaration.variables.sorted().joined(separator: ", "))"
                )
            }
        }
        if let unclosed = open.last {
            throw DefinitionError(
                file: file, path: "", line: unclosed.line, message: "the section '\(unclosed.name)' is never closed with '{{/\(unclosed.name)}}'")
        }
        do {
            // Plain text, not HTML: messages go into JSON bodies and log lines, which escape for themselves.
            // The pragma shares the first line, so swift-mustache's line numbers stay the file's.
            return try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text)
        } catch let error as MustacheTemplate.ParserError {
            throw DefinitionError(file: file, path: "", line: error.context.lineNumber, message: "Mustache syntax error: \(error.error)")
        }
    }

    /// Renders `template` for `channel` in `locale` or its fallback (`de-CH` → `de` → the default
    /// locale) with `values`, which must hold every variable the template declares.
    public func render(template: String, channel: NotificationChannel, locale: String, values: [String: TemplateValue]) throws -> RenderedMessage {
        guard let declaration = declarations[template] else {
            throw NotificationError(.unknownTemplate, "no template '\(template)' in \(Self.indexFileName)")
        }
        guard declaration.channels.contains(channel) else {
            throw NotificationError(
                .channelNotOffered,
                "template '\(template)' has no \(channel.rawValue) version; it offers \(declaration.channels.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        let missing = declaration.variables.subtracting(values.keys).sorted()
        guard missing.isEmpty else {
            throw NotificationError(.missingVariable, "template '\(template)' needs \(missing.joined(separator: ", ")), which the notification does not carry")
        }
        let chosen = Self.fallbacks(for: locale, defaultLocale: defaultLocale).first { declaration.locales.contains($0) } ?? defaultLocale
        guard let compiled = templates[FileKey(template: template, channel: channel, locale: chosen)] else {
            throw NotificationError(.unknownTemplate, "template '\(template)' has no \(channel.rawValue) file for locale \(chosen)")
        }
        // Only declared values reach the template, so nothing undeclared can be rendered.
        var context: [String: Any] = [:]
        for name in declaration.variables { context[name] = values[name]?.rendered }
        var text = compiled.render(context)
        // A template file ends with a newline; the message does not.
        while text.last?.isNewline == true { text.removeLast() }
        return RenderedMessage(template: template, channel: channel, locale: chosen, text: text)
    }

    /// `de-CH-1996` → `de-CH-1996`, `de-CH`, `de`, then the default locale.
    static func fallbacks(for locale: String, defaultLocale: String) -> [String] {
        var parts = locale.split(separator: "-").map(String.init)
        var out: [String] = []
        while !parts.isEmpty {
            out.append(parts.joined(separator: "-"))
            parts.removeLast()
        }
        out.append(defaultLocale)
        return out
    }
}
