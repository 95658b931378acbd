import Foundation
import WaymarkDomain

/// A webhook receiver: where to POST, with which secrets, how long to wait, how many at once.
public struct WebhookEndpoint: Sendable, CustomStringConvertible {
    public var name: String
    public var url: URL
    /// The first signs and is current; more sign too while a secret is rotated.
    public var secrets: [WebhookSecret]
    /// The whole request, from connecting to the last byte of the answer.
    public var timeout: Duration
    /// How many deliveries to this endpoint may be in flight at once (the worker's limit).
    public var concurrency: Int

    public init(name: String, url: URL, secrets: [WebhookSecret], timeout: Duration, concurrency: Int) {
        self.name = name
        self.url = url
        self.secrets = secrets
        self.timeout = timeout
        self.concurrency = concurrency
    }

    /// Names the endpoint and its URL; the secrets show as `whsec_…`.
    public var description: String { "webhook endpoint \(name) (\(url.absoluteString))" }
}

/// Where a recipient's notifications go.
public struct NotificationRoute: Sendable, Equatable {
    public var channel: NotificationChannel
    /// The endpoint's name for `webhook`; nil for `log`.
    public var endpoint: String?

    public init(channel: NotificationChannel, endpoint: String?) {
        self.channel = channel
        self.endpoint = endpoint
    }
}

/// `config/notifications.yaml`: webhook endpoints, and which channel (and endpoint) each role and
/// the customer are reached on. Secrets are named by environment variable, never written in the file.
public struct NotificationSettings: Sendable {
    /// The CloudEvents `source` of every notification, e.g. `/waymark/acme-prod`.
    public var source: String
    public var endpoints: [String: WebhookEndpoint]
    public var roles: [String: NotificationRoute]
    /// Customer-facing notifications (consent is checked separately, per purpose and channel).
    public var customer: NotificationRoute?
    /// The role told when a notification is given up (an `EscalationRaised` with its own
    /// notification); nil: the failure is recorded, and nobody is told.
    public var operatorsRole: String?

    public init(
        source: String, endpoints: [String: WebhookEndpoint], roles: [String: NotificationRoute], customer: NotificationRoute?, operatorsRole: String? = nil
    ) {
        self.source = source
        self.endpoints = endpoints
        self.roles = roles
        self.customer = customer
        self.operatorsRole = operatorsRole
    }

    public static let fileName = "notifications.yaml"
    public static let timeoutRange: ClosedRange<Int64> = 1...120
    public static let concurrencyRange = 1...256

    /// Where `role`'s notifications go.
    public func route(role: String) throws -> NotificationRoute {
        guard let route = roles[role] else { throw NotificationError(.noRoute, "\(Self.fileName) routes role '\(role)' nowhere") }
        return route
    }

    /// Reads `notifications.yaml` from the configuration folder. `environment` supplies the
    /// secrets; `knownRoles`, when given, are the roles routing may name (those of
    /// process-manager.yaml), so a typo fails at load.
    public static func load(directory: URL, environment: [String: String], knownRoles: Set<String>? = nil) throws -> NotificationSettings {
        let file = directory.appendingPathComponent(fileName)
        return try parse(try DefinitionLoader.read(file), file: file.path, environment: environment, knownRoles: knownRoles)
    }

    public static func parse(_ yaml: String, file: String, environment: [String: String], knownRoles: Set<String>? = nil) throws -> NotificationSettings {
        let root = try YAMLValue.parse(yaml, file: file)
        let fields = try root.mapping(allowed: ["source", "default_timeout", "default_concurrency", "endpoints", "roles", "customer", "operators_role"])
        let source = try fields.required("source", in: root).string()
        let defaultTimeout = try fields["default_timeout"].map(timeout) ?? 10
        let defaultConcurrency = try fields["default_concurrency"]?.integer(in: concurrencyRange) ?? 8

        var endpoints: [String: WebhookEndpoint] = [:]
        for (name, value) in try fields["endpoints"]?.namedEntries() ?? [] {
            try TemplateIndex.checkName(name, at: value)
            endpoints[name] = try endpoint(name, value, environment: environment, timeout: defaultTimeout, concurrency: defaultConcurrency)
        }
        func route(_ value: YAMLValue) throws -> NotificationRoute {
            let keys = try value.mapping(allowed: ["channel", "endpoint"])
            let channelValue = try keys.required("channel", in: value)
            let text = try channelValue.string()
            guard let channel = NotificationChannel(rawValue: text) else {
                throw channelValue.fail("unknown channel '\(text)'; channels: \(NotificationChannel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            switch channel {
            case .webhook:
                let endpointValue = try keys.required("endpoint", in: value)
                let name = try endpointValue.string()
                guard endpoints[name] != nil else {
                    throw endpointValue.fail("no endpoint '\(name)' under 'endpoints'; endpoints: \(endpoints.keys.sorted().joined(separator: ", "))")
                }
                return NotificationRoute(channel: channel, endpoint: name)
            case .log:
                if let endpointValue = keys["endpoint"] { throw endpointValue.fail("the log channel takes no endpoint") }
                return NotificationRoute(channel: channel, endpoint: nil)
            }
        }
        var roles: [String: NotificationRoute] = [:]
        for (role, value) in try fields.required("roles", in: root).namedEntries() {
            if let knownRoles, !knownRoles.contains(role) {
                throw value.fail("role '\(role)' is not routed in process-manager.yaml; roles: \(knownRoles.sorted().joined(separator: ", "))")
            }
            roles[role] = try route(value)
        }
        var settings = NotificationSettings(source: source, endpoints: endpoints, roles: roles, customer: try fields["customer"].map(route))
        if let value = fields["operators_role"] {
            let role = try value.string()
            guard roles[role] != nil else { throw value.fail("operators_role '\(role)' is not routed under 'roles'") }
            settings.operatorsRole = role
        }
        return settings
    }

    private static func timeout(_ value: YAMLValue) throws -> Int64 {
        let seconds = try value.duration().seconds
        guard timeoutRange.contains(seconds) else {
            throw value.fail("a timeout is \(timeoutRange.lowerBound) to \(timeoutRange.upperBound) seconds")
        }
        return seconds
    }

    private static func endpoint(
        _ name: String, _ value: YAMLValue, environment: [String: String], timeout defaultTimeout: Int64, concurrency defaultConcurrency: Int
    ) throws -> WebhookEndpoint {
        let keys = try mappingRefusingSecrets(value)
        let urlValue = try keys.required("url", in: value)
        let text = try urlValue.string()
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host?.isEmpty == false else {
            throw urlValue.fail("expected an http:// or https:// URL with a host")
        }
        // Credentials in a URL end up in logs and errors; the signature is the credential.
        guard url.user == nil, url.password == nil, url.query == nil else {
            throw urlValue.fail("the URL must carry no user, password or query: the webhook signature authenticates the sender")
        }
        let secretValue = try keys.required("secret_env", in: value)
        let variables: [YAMLValue] = secretValue.isSequence ? try secretValue.sequence() : [secretValue]
        guard !variables.isEmpty else { throw secretValue.fail("name at least one environment variable") }
        let secrets = try variables.map { variable in
            let name = try variable.string()
            // A value that is no variable name may be the secret itself, pasted by mistake: never echo it.
            guard name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil, !name.hasPrefix("whsec_") else {
                throw variable.fail("secret_env must name an environment variable (letters, digits, _), not hold the secret; move the value to the environment")
            }
            guard let text = environment[name], !text.isEmpty else {
                throw variable.fail("the environment variable \(name) is not set: set it to the endpoint's secret (whsec_ and base64)")
            }
            do {
                return try WebhookSecret(parsing: text)
            } catch let error as WebhookSignatureError {
                throw variable.fail("the environment variable \(name) does not hold a valid secret: \(error.message)")
            }
        }
        return WebhookEndpoint(
            name: name, url: url, secrets: secrets, timeout: .seconds(try keys["timeout"].map(timeout) ?? defaultTimeout),
            concurrency: try keys["concurrency"]?.integer(in: concurrencyRange) ?? defaultConcurrency)
    }

    /// Like `mapping(allowed:)`, but a `secret` key gets its own answer: the file is committed and
    /// read by many, so the secret belongs in the environment.
    private static func mappingRefusingSecrets(_ value: YAMLValue) throws -> [String: YAMLValue] {
        let allowed: Set<String> = ["url", "secret_env", "timeout", "concurrency"]
        if let entries = try? value.namedEntries(), let secret = entries.first(where: { $0.0 == "secret" || $0.0 == "secrets" }) {
            throw secret.1.fail("never write a secret in \(fileName): name the environment variable that holds it with 'secret_env'")
        }
        return try value.mapping(allowed: allowed)
    }
}
