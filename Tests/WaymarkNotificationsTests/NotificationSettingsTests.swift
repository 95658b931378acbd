import Foundation
import Testing
import WaymarkDomain
import WaymarkNotifications

@Suite struct NotificationSettingsTests {
    static let environment = [
        "WAYMARK_WEBHOOK_SECRET_FULFILMENT": WebhookSecret.random().serialized(),
        "WAYMARK_WEBHOOK_SECRET_SERVICE": WebhookSecret.random().serialized(),
        "WAYMARK_WEBHOOK_SECRET_SERVICE_PREVIOUS": WebhookSecret.random().serialized(),
        "WAYMARK_WEBHOOK_SECRET_MESSAGING": WebhookSecret.random().serialized(),
    ]

    /// The roles process-manager.yaml routes, read from its `routing:` block.
    static func processManagerRoles() throws -> Set<String> {
        let text = try String(contentsOf: configDirectory.appendingPathComponent("process-manager.yaml"), encoding: .utf8)
        let block = text.components(separatedBy: "\nrouting:\n")[1].components(separatedBy: "\n\n")[0]
        return Set(
            block.split(separator: "\n").compactMap { line in
                line.hasPrefix("  ") ? line.split(separator: ":").first.map { $0.trimmingCharacters(in: .whitespaces) } : nil
            })
    }

    @Test("the shipped notifications.yaml loads with secrets from the environment") func theShippedFileLoadsWithSecretsFromTheEnvironment() throws {
        let settings = try NotificationSettings.load(directory: configDirectory, environment: Self.environment, knownRoles: try Self.processManagerRoles())
        #expect(settings.source == "/waymark/demo")
        let fulfilment = try #require(settings.endpoints["fulfilment-desk"])
        #expect(fulfilment.url.absoluteString == "https://fulfilment.example.com/hooks/waymark")
        #expect(fulfilment.timeout == .seconds(15))
        #expect(fulfilment.concurrency == 4)
        #expect(fulfilment.secrets.map { $0.serialized() } == [Self.environment["WAYMARK_WEBHOOK_SECRET_FULFILMENT"]])
        #expect(settings.endpoints["service-desk"]?.secrets.count == 2)
        #expect(settings.endpoints["service-desk"]?.timeout == .seconds(10))
        #expect(settings.endpoints["service-desk"]?.concurrency == 8)
        #expect(try settings.route(role: "fulfilment-lead") == NotificationRoute(channel: .webhook, endpoint: "fulfilment-desk"))
        #expect(try settings.route(role: "operations-manager") == NotificationRoute(channel: .log, endpoint: nil))
        #expect(settings.customer == NotificationRoute(channel: .webhook, endpoint: "customer-messaging"))
        #expect(throws: NotificationError.self) { try settings.route(role: "nobody") }
    }

    static let minimal = """
        source: /waymark/test
        endpoints:
          desk:
            url: https://desk.example.com/hook
            secret_env: DESK_SECRET
        roles:
          support-lead: {channel: webhook, endpoint: desk}
        """

    static func refusal(_ yaml: String, environment: [String: String] = ["DESK_SECRET": WebhookSecret.random().serialized()], roles: Set<String>? = nil)
        -> DefinitionError?
    {
        definitionError { _ = try NotificationSettings.parse(yaml, file: "notifications.yaml", environment: environment, knownRoles: roles) }
    }

    @Test("notifications.yaml errors name file, line, path and problem, never a secret") func errorsNameFileLinePathAndProblem() throws {
        #expect(Self.refusal(Self.minimal) == nil)
        let unset = try #require(Self.refusal(Self.minimal, environment: [:]))
        #expect(unset.file == "notifications.yaml")
        #expect(unset.path == "endpoints.desk.secret_env")
        #expect(unset.line == 5)
        #expect(unset.message.contains("DESK_SECRET is not set"))

        let badSecret = "whsec_dG9vLXNob3J0"
        let invalid = try #require(Self.refusal(Self.minimal, environment: ["DESK_SECRET": badSecret]))
        #expect(invalid.message.contains("does not hold a valid secret"))
        #expect(!invalid.description.contains(badSecret) && !invalid.description.contains("dG9vLXNob3J0"))

        let inline = try #require(Self.refusal(Self.minimal.replacingOccurrences(of: "secret_env: DESK_SECRET", with: "secret: whsec_abc")))
        #expect(inline.path == "endpoints.desk.secret")
        #expect(inline.message.contains("never write a secret"))
        #expect(!inline.description.contains("whsec_abc"))

        // The secret pasted where its variable's name belongs is refused without being repeated.
        let pasted = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let misplaced = try #require(Self.refusal(Self.minimal.replacingOccurrences(of: "secret_env: DESK_SECRET", with: "secret_env: \(pasted)")))
        #expect(misplaced.path == "endpoints.desk.secret_env")
        #expect(misplaced.message.contains("must name an environment variable"))
        #expect(!misplaced.description.contains(pasted) && !misplaced.description.contains("MfKQ9r8GKYqr"))

        let unknownEndpoint = try #require(Self.refusal(Self.minimal.replacingOccurrences(of: "endpoint: desk}", with: "endpoint: dsk}")))
        #expect(unknownEndpoint.path == "roles.support-lead.endpoint")
        #expect(unknownEndpoint.line == 7)
        #expect(unknownEndpoint.message.contains("no endpoint 'dsk'"))

        let ftp = try #require(Self.refusal(Self.minimal.replacingOccurrences(of: "https://desk", with: "ftp://desk")))
        #expect(ftp.path == "endpoints.desk.url")
        let credentials = try #require(Self.refusal(Self.minimal.replacingOccurrences(of: "https://desk", with: "https://user:pw@desk")))
        #expect(credentials.message.contains("no user, password or query"))

        let slow = try #require(
            Self.refusal(Self.minimal.replacingOccurrences(of: "secret_env: DESK_SECRET", with: "secret_env: DESK_SECRET\n    timeout: 10m")))
        #expect(slow.path == "endpoints.desk.timeout")
        let many = try #require(
            Self.refusal(Self.minimal.replacingOccurrences(of: "secret_env: DESK_SECRET", with: "secret_env: DESK_SECRET\n    concurrency: 0")))
        #expect(many.path == "endpoints.desk.concurrency")

        let typo = try #require(Self.refusal(Self.minimal, roles: ["support-manager"]))
        #expect(typo.path == "roles.support-lead")
        #expect(typo.message.contains("not routed in process-manager.yaml"))

        let channel = try #require(Self.refusal(Self.minimal.replacingOccurrences(of: "{channel: webhook, endpoint: desk}", with: "{channel: sms}")))
        #expect(channel.path == "roles.support-lead.channel")
    }
}
