import WaymarkDomain

/// `config/templates/templates.yaml`: which templates exist, for whom, with which variables,
/// channels and locales.
struct TemplateIndex {
    struct Entry {
        var declaration: NotificationTemplates.Declaration
        /// Where the declaration is, for errors about its files.
        var value: YAMLValue
    }

    var defaultLocale: String
    var entries: [String: Entry]

    static func parse(_ yaml: String, file: String) throws -> TemplateIndex {
        let root = try YAMLValue.parse(yaml, file: file)
        let fields = try root.mapping(allowed: ["default_locale", "templates"])
        let defaultValue = try fields.required("default_locale", in: root)
        let defaultLocale = try locale(defaultValue)
        var entries: [String: Entry] = [:]
        for (name, value) in try fields.required("templates", in: root).namedEntries() {
            try checkName(name, at: value)
            let keys = try value.mapping(allowed: ["audience", "description", "variables", "channels", "locales"])
            let audienceValue = try keys.required("audience", in: value)
            guard let audience = NotificationTemplates.Declaration.Audience(rawValue: try audienceValue.string()) else {
                throw audienceValue.fail("expected 'role' or 'customer'")
            }
            var variables: Set<String> = []
            for variable in try keys["variables"]?.sequence() ?? [] {
                let text = try variable.string()
                guard TemplateScanner.isVariableName(text) else {
                    throw variable.fail("'\(text)' is not a variable name: lower-case letters, digits and '_', starting with a letter")
                }
                guard variables.insert(text).inserted else { throw variable.fail("'\(text)' is listed twice") }
            }
            var channels: Set<NotificationChannel> = []
            for channelValue in try keys.required("channels", in: value).sequence() {
                let text = try channelValue.string()
                guard let channel = NotificationChannel(rawValue: text) else {
                    throw channelValue.fail("unknown channel '\(text)'; channels: \(NotificationChannel.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard channels.insert(channel).inserted else { throw channelValue.fail("'\(text)' is listed twice") }
            }
            let localesValue = try keys.required("locales", in: value)
            var locales: Set<String> = []
            for localeValue in try localesValue.sequence() {
                guard locales.insert(try locale(localeValue)).inserted else { throw localeValue.fail("the locale is listed twice") }
            }
            if channels.isEmpty { throw value.fail("template '\(name)' lists no channels") }
            guard locales.contains(defaultLocale) else {
                throw localesValue.fail("template '\(name)' must offer the default locale \(defaultLocale), which every other locale falls back to")
            }
            entries[name] = Entry(
                declaration: .init(name: name, audience: audience, variables: variables, channels: channels, locales: locales), value: value)
        }
        return TemplateIndex(defaultLocale: defaultLocale, entries: entries)
    }

    /// Template and endpoint names: letters, digits and `-`, starting with a letter; they become
    /// file names and CloudEvents types.
    static func checkName(_ name: String, at value: YAMLValue) throws {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 100,
            name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" })
        else {
            throw value.fail("'\(name)' is not a name: lower-case letters, digits and '-', starting with a letter")
        }
    }

    /// A BCP 47 tag of the simple kind: `en`, `de`, `de-CH`.
    static func locale(_ value: YAMLValue) throws -> String {
        let text = try value.string()
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let language = parts.first, (2...3).contains(language.count), language.allSatisfy({ $0.isASCII && $0.isLowercase }),
            parts.dropFirst().allSatisfy({ (2...8).contains($0.count) && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } })
        else {
            throw value.fail("'\(text)' is not a locale such as en, de or de-CH")
        }
        return text
    }
}
