import Foundation
import WaymarkDomain
import WaymarkPostgres

/// How the console writes figures for a person.
enum Formatting {
    /// `2d 4h`, `3h 12m`, `4m 05s`, `12s`; negative as `-` then the same.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite else { return "" }
        let sign = seconds < 0 ? "-" : ""
        let total = Int(abs(seconds).rounded())
        let (days, hours, minutes, secs) = (total / 86_400, total % 86_400 / 3_600, total % 3_600 / 60, total % 60)
        if days > 0 { return "\(sign)\(days)d \(hours)h" }
        if hours > 0 { return "\(sign)\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(sign)\(minutes)m \(secs < 10 ? "0" : "")\(secs)s" }
        return "\(sign)\(secs)s"
    }

    /// An instant as the page shows it (UTC, to the second) and as `datetime` takes it.
    static func time(_ date: Date?) -> String {
        guard let date else { return "" }
        return String(TimestampText.iso8601(date).prefix(19)).replacingOccurrences(of: "T", with: " ")
    }

    static func machineTime(_ date: Date?) -> String {
        guard let date else { return "" }
        return TimestampText.iso8601(date)
    }

    /// A share as a CSS width, 0 to 100, with one decimal.
    static func percent(_ value: Double) -> String {
        String(format: "%.1f", min(max(value, 0), 100))
    }

    /// A status word for a person: `waiting_on_customer` → `waiting on customer`.
    static func words(_ text: String?) -> String {
        (text ?? "").replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "-", with: " ")
    }

    /// A query string of the non-empty fields, for links that keep a page's filters.
    static func query(_ fields: [(String, String?)]) -> String {
        let parts = fields.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }
}

/// The value of a filter field of a page's form: what was asked (empty: no filter), and the
/// choices a `<select>` offers with the asked one selected.
struct FilterField {
    struct Choice {
        var value: String
        var label: String
        var selected: Bool
    }
    var name: String
    var label: String
    var value: String
    var choices: [Choice]
    /// Stored, not computed: templates see stored properties only.
    var isSelect: Bool

    init(name: String, label: String, value: String?, choices: [String] = [], anyLabel: String = "any") {
        self.name = name
        self.label = label
        self.value = value ?? ""
        self.choices =
            choices.isEmpty
            ? []
            : [Choice(value: "", label: anyLabel, selected: (value ?? "").isEmpty)]
                + choices.map { Choice(value: $0, label: Formatting.words($0), selected: $0 == value) }
        isSelect = !choices.isEmpty
    }
}

extension Formatting {
    /// A length of a definition as it was written: `2d` (business days), `4h`, `1d 4h`.
    static func businessDuration(_ duration: BusinessDuration?) -> String {
        guard let duration else { return "" }
        let rest = duration.seconds - duration.days * 86_400
        guard duration.days > 0 else { return Self.duration(Double(duration.seconds)) }
        return "\(duration.days)d" + (rest > 0 ? " " + Self.duration(Double(rest)) : "")
    }

    /// Text for SVG and HTML written by hand (not by a template, which escapes on its own).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
