import Foundation

/// What makes a new OpenAPI document break clients of an older one under the same `/v1`: an
/// operation, parameter, property or enum value taken away, a property no longer always answered,
/// or something newly required of the caller. Additions are not breaking.
struct BreakingChanges {
    let old: [String: Any]
    let new: [String: Any]
    private(set) var found: [String] = []

    static let methods = ["get", "put", "post", "delete", "patch"]

    init(old: [String: Any], new: [String: Any]) {
        self.old = old
        self.new = new
        let oldPaths = old["paths"] as? [String: Any] ?? [:]
        let newPaths = new["paths"] as? [String: Any] ?? [:]
        for (path, oldItem) in oldPaths.sorted(by: { $0.key < $1.key }) where path.hasPrefix("/v1/") {
            for method in Self.methods {
                guard let oldOperation = (oldItem as? [String: Any])?[method] as? [String: Any] else { continue }
                let name = "\(method.uppercased()) \(path)"
                guard let newOperation = (newPaths[path] as? [String: Any])?[method] as? [String: Any] else {
                    found.append("\(name): the operation is gone")
                    continue
                }
                compareOperation(name, oldOperation, newOperation)
            }
        }
    }

    private mutating func compareOperation(_ name: String, _ old: [String: Any], _ new: [String: Any]) {
        func parameters(_ operation: [String: Any], in document: [String: Any]) -> [String: [String: Any]] {
            var out: [String: [String: Any]] = [:]
            for parameter in operation["parameters"] as? [Any] ?? [] {
                let resolved = Self.resolve(parameter, in: document)
                out["\(resolved["in"] ?? "").\(resolved["name"] ?? "")"] = resolved
            }
            return out
        }
        let oldParameters = parameters(old, in: self.old)
        let newParameters = parameters(new, in: self.new)
        for (key, parameter) in oldParameters where newParameters[key] == nil {
            found.append("\(name): parameter \(key) is gone")
            _ = parameter
        }
        for (key, parameter) in newParameters where oldParameters[key] == nil && parameter["required"] as? Bool == true {
            found.append("\(name): parameter \(key) is newly required")
        }
        for (key, parameter) in oldParameters {
            guard let newParameter = newParameters[key] else { continue }
            compareSchema(
                "\(name) parameter \(key)", Self.resolve(parameter["schema"] ?? [:], in: self.old), Self.resolve(newParameter["schema"] ?? [:], in: self.new),
                request: true)
        }
        if let oldBody = Self.jsonSchema(of: old["requestBody"], in: self.old) {
            if let newBody = Self.jsonSchema(of: new["requestBody"], in: self.new) {
                compareSchema("\(name) request", oldBody, newBody, request: true)
            } else {
                found.append("\(name): the request body is gone")
            }
        }
        let oldResponses = old["responses"] as? [String: Any] ?? [:]
        let newResponses = new["responses"] as? [String: Any] ?? [:]
        for (status, oldResponse) in oldResponses where status.hasPrefix("2") {
            guard let newResponse = newResponses[status] else {
                found.append("\(name): response \(status) is gone")
                continue
            }
            if let oldSchema = Self.jsonSchema(of: oldResponse, in: self.old), let newSchema = Self.jsonSchema(of: newResponse, in: self.new) {
                compareSchema("\(name) response \(status)", oldSchema, newSchema, request: false)
            }
        }
    }

    /// A request's schema may not require more or take away; a response's may not answer less.
    private mutating func compareSchema(_ place: String, _ old: [String: Any], _ new: [String: Any], request: Bool) {
        let oldEnum = (old["enum"] as? [Any])?.map { "\($0)" } ?? []
        let newEnum = (new["enum"] as? [Any])?.map { "\($0)" }
        if let newEnum {
            for value in oldEnum where !newEnum.contains(value) { found.append("\(place): enum value \(value) is gone") }
        }
        let oldProperties = old["properties"] as? [String: Any] ?? [:]
        let newProperties = new["properties"] as? [String: Any] ?? [:]
        let oldRequired = Set(old["required"] as? [String] ?? [])
        let newRequired = Set(new["required"] as? [String] ?? [])
        for (property, oldProperty) in oldProperties.sorted(by: { $0.key < $1.key }) {
            guard let newProperty = newProperties[property] else {
                found.append("\(place): field \(property) is gone")
                continue
            }
            compareSchema(
                "\(place).\(property)", Self.resolve(oldProperty, in: self.old), Self.resolve(newProperty, in: self.new), request: request)
        }
        if request {
            for property in newRequired.subtracting(oldRequired).sorted() { found.append("\(place): field \(property) is newly required") }
        } else {
            for property in oldRequired.subtracting(newRequired).sorted() { found.append("\(place): field \(property) is no longer always answered") }
        }
        if let oldItems = old["items"], let newItems = new["items"] {
            compareSchema("\(place)[]", Self.resolve(oldItems, in: self.old), Self.resolve(newItems, in: self.new), request: request)
        }
    }

    /// The JSON schema of a request body or response (its `application/json` or problem content).
    static func jsonSchema(of item: Any?, in document: [String: Any]) -> [String: Any]? {
        guard let item else { return nil }
        let resolved = resolve(item, in: document)
        let content = resolved["content"] as? [String: Any] ?? [:]
        guard let media = (content["application/json"] ?? content["application/problem+json"]) as? [String: Any], let schema = media["schema"] else {
            return nil
        }
        return resolve(schema, in: document)
    }

    /// `value` with its `$ref` (to `#/components/…`) followed.
    static func resolve(_ value: Any, in document: [String: Any]) -> [String: Any] {
        guard let object = value as? [String: Any] else { return [:] }
        guard let reference = object["$ref"] as? String, reference.hasPrefix("#/") else { return object }
        var node: Any = document
        for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] ?? [:] }
        return resolve(node, in: document)
    }
}
