import Foundation
import WaymarkDomain

/// Finds the tags of a Mustache template with their lines, so that load can say which line uses a
/// variable the index does not declare. Waymark's templates use a small part of Mustache:
/// variables (`{{name}}`, `{{{name}}}`, `{{&name}}`), sections over flags (`{{#name}}…{{/name}}`,
/// `{{^name}}…{{/name}}`) and comments. Partials, inheritance, pragmas, delimiter changes and
/// dotted names are refused: each would let a template reach values its declaration does not list.
struct TemplateTag: Equatable {
    enum Kind: Equatable { case variable, section, invertedSection, close }
    var kind: Kind
    var name: String
    var line: Int
}

enum TemplateScanner {
    static func tags(in text: String, file: String) throws -> [TemplateTag] {
        var tags: [TemplateTag] = []
        var line = 1
        var rest = Substring(text)
        func fail(_ message: String) -> DefinitionError {
            DefinitionError(file: file, path: "", line: line, message: message)
        }
        while let open = rest.range(of: "{{") {
            line += rest[..<open.lowerBound].count(where: \.isNewline)
            rest = rest[open.upperBound...]
            let triple = rest.first == "{"
            let closer = triple ? "}}}" : "}}"
            guard let close = rest.range(of: closer) else { throw fail("a tag opened with '{{' is never closed with '\(closer)'") }
            var body = rest[rest.startIndex..<close.lowerBound]
            let tagLine = line
            line += body.count(where: \.isNewline)
            rest = rest[close.upperBound...]
            if triple { body = body.dropFirst() }
            let sigil: Character? = triple ? "&" : body.first.flatMap { "!#^/&>=%$<{".contains($0) ? $0 : nil }
            if sigil == "!" { continue }
            if !triple, sigil != nil { body = body.dropFirst() }
            let name = body.trimmingCharacters(in: .whitespaces)
            let kind: TemplateTag.Kind
            switch sigil {
            case nil, "&": kind = .variable
            case "#": kind = .section
            case "^": kind = .invertedSection
            case "/": kind = .close
            case ">", "<", "$":
                throw DefinitionError(
                    file: file, path: "", line: tagLine, message: "partials and inheritance ('{{\(sigil!)…}}') are not supported in notification templates")
            default:
                throw DefinitionError(
                    file: file, path: "", line: tagLine, message: "'{{\(sigil!)…}}' (delimiter changes and pragmas) is not supported in notification templates")
            }
            guard isVariableName(name) else {
                throw DefinitionError(
                    file: file, path: "", line: tagLine,
                    message:
                        "'{{\(triple ? "{" : (sigil.map(String.init) ?? ""))\(name)…}}' is not a variable name: lower-case letters, digits and '_', starting with a letter"
                )
            }
            tags.append(TemplateTag(kind: kind, name: name, line: tagLine))
        }
        return tags
    }

    /// `customer_name`, `delay_hours`: what the index declares and the templates use.
    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 64 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }
}
