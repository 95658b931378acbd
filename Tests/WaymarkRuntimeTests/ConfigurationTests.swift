import Foundation
import Testing
import WaymarkRuntime

/// The repository's root, where `waymark.example.yaml` and `docs/` are.
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Writes `text` as `waymark.yaml` into a fresh folder and returns the file's path.
private func file(_ text: String) throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-runtime-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let file = folder.appendingPathComponent("waymark.yaml")
    try text.write(to: file, atomically: true, encoding: .utf8)
    return file.path
}

/// The error `body` throws, as a `ConfigurationError`.
private func configurationError(_ body: () throws -> Void) -> ConfigurationError? {
    do {
        try body()
        return nil
    } catch {
        return error as? ConfigurationError
    }
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test("a value out of range is refused naming the key and its line in the file")
    func outOfRange() throws {
        let path = try file("projections:\n  analytics_schema: views\n  batch_size: 0\n")
        let error = configurationError { _ = try WaymarkConfiguration.load(file: path, environment: [:]) }
        #expect(error?.code == .invalidValue)
        #expect(error?.key == "projections.batch_size")
        #expect(
            error?.description.hasSuffix("waymark.yaml:3: projections.batch_size: must be between 1 and 100000, not 0") == true, "\(String(describing: error))")
    }

    @Test("an unknown key, a typo, is refused with its line and the keys its section has")
    func unknownKey() throws {
        let path = try file("database:\n  schema: s\n  pool:\n    clients: 4\n")
        let error = configurationError { _ = try WaymarkConfiguration.load(file: path, environment: [:]) }
        #expect(error?.code == .unknownKey)
        #expect(
            error?.description.contains("waymark.yaml:4: database.pool.clients: unknown key; database.pool has projections, client, admin") == true,
            "\(String(describing: error))")
        let top = configurationError { _ = try WaymarkConfiguration.load(file: try file("webserver:\n  port: 8080\n"), environment: [:]) }
        #expect(top?.description.contains("waymark.yaml:1: webserver: unknown key") == true, "\(String(describing: top))")
        let port = configurationError { _ = try WaymarkConfiguration.load(file: try file("server:\n  port: 80800\n"), environment: [:]) }
        #expect(port?.description.contains("waymark.yaml:2: server.port") == true, "\(String(describing: port))")
    }

    @Test("the environment overrides the file, an option overrides both; each value's origin is kept")
    func precedence() throws {
        let path = try file("database:\n  schema: from_file\n  pool:\n    client: 4\nclient:\n  command_timeout: 5s\n")
        let environment = ["WAYMARK_SCHEMA": "from_env", "WAYMARK_POOL_CLIENT": "6", "WAYMARK_CLIENT_MAX_ATTEMPTS": "3"]
        let fromEnvironment = try WaymarkConfiguration.load(file: path, environment: environment)
        #expect(fromEnvironment.database.schema == "from_env")
        #expect(fromEnvironment.database.pool.client == 6)
        #expect(fromEnvironment.client.maxAttempts == 3)
        #expect(fromEnvironment.client.commandTimeout == .seconds(5))
        #expect(fromEnvironment.origins["client.command_timeout"]?.hasSuffix("waymark.yaml:6") == true)
        #expect(fromEnvironment.origins["database.schema"] == "WAYMARK_SCHEMA")
        let fromOption = try WaymarkConfiguration.load(
            file: path, environment: environment, overrides: [ConfigurationOverride(key: "database.schema", value: "from_option", option: "--schema")])
        #expect(fromOption.database.schema == "from_option")
        #expect(fromOption.origins["database.schema"] == "--schema")
    }

    @Test("a bad environment value names the variable and the key")
    func badEnvironment() throws {
        let error = configurationError { _ = try WaymarkConfiguration.load(environment: ["WAYMARK_CLIENT_COMMAND_TIMEOUT": "soon"], workingDirectory: "/") }
        #expect(
            error?.description.hasPrefix("invalid_value: WAYMARK_CLIENT_COMMAND_TIMEOUT (client.command_timeout): must be a duration") == true,
            "\(String(describing: error))")
    }

    @Test("relative paths in the file are taken from the file's folder; WAYMARK_CONFIG names the file")
    func relativePaths() throws {
        let path = try file("definitions:\n  directory: definitions\ndatabase:\n  local_data_dir: data/pg\n")
        let folder = (path as NSString).deletingLastPathComponent
        let configuration = try WaymarkConfiguration.load(environment: ["WAYMARK_CONFIG": path], workingDirectory: "/")
        #expect(configuration.definitions.directory == folder + "/definitions")
        #expect(configuration.database.localDataDirectory == folder + "/data/pg")
    }

    @Test("the example file states the defaults, and it and docs/configuration.md name every key and variable")
    func exampleAndDocs() throws {
        let example = repository.appendingPathComponent("waymark.example.yaml").path
        var loaded = try WaymarkConfiguration.load(file: example, environment: [:])
        loaded.origins = [:]
        // Relative paths in a file are the file's folder's.
        var defaults = WaymarkConfiguration()
        defaults.definitions.directory = repository.appendingPathComponent("config").path
        defaults.database.localDataDirectory = repository.appendingPathComponent(".waymark/postgres").path
        #expect(loaded == defaults)
        let exampleText = try String(contentsOfFile: example, encoding: .utf8)
        let docs = try String(contentsOf: repository.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for key in ConfigurationKey.all {
            #expect(WaymarkConfiguration().text(of: key.name) != nil, "config show cannot print \(key.name)")
            #expect(docs.contains("`\(key.name)`") && docs.contains("`\(key.environment)`"), "docs/configuration.md lacks \(key.name)")
            #expect(exampleText.contains(String(key.name.split(separator: ".").last!) + ":"), "waymark.example.yaml lacks \(key.name)")
        }
    }
}
