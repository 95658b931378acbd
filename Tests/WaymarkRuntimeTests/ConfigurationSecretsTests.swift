import Foundation
import Testing
import WaymarkPostgres
import WaymarkRuntime

private func file(_ text: String) throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-secrets-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let file = folder.appendingPathComponent("waymark.yaml")
    try text.write(to: file, atomically: true, encoding: .utf8)
    return file.path
}

@Suite("Configuration: blank variables and secrets")
struct ConfigurationSecretsTests {
    @Test("a blank WAYMARK_DATABASE_URL leaves the file's URL in place, not the private local server")
    func blankVariable() throws {
        let path = try file("database:\n  url: postgresql://app@db.internal:5432/waymark\n")
        let configuration = try WaymarkConfiguration.load(file: path, environment: ["WAYMARK_DATABASE_URL": ""])
        #expect(configuration.database.url == "postgresql://app@db.internal:5432/waymark")
    }

    @Test("a password in a URL's query is hidden like one in its user part")
    func queryPassword() {
        let shown = PostgresConnection.redactedURL("postgresql://app@db/waymark?sslmode=require&password=s3cret&application_name=x")
        #expect(!shown.contains("s3cret") && shown.contains("password=***") && shown.contains("application_name=x"), "\(shown)")
        let both = PostgresConnection.redactedURL("postgresql://app:p4ss@db/waymark?password=s3cret")
        #expect(!both.contains("p4ss") && !both.contains("s3cret"), "\(both)")
    }

    @Test("a YAML syntax error says where, without quoting the line (which may hold a password)")
    func syntaxErrorQuotesNothing() throws {
        let path = try file("database:\n  url: postgresql://app:s3cret@db/waymark: x: y\n  schema: waymark\n")
        #expect {
            _ = try WaymarkConfiguration.load(file: path, environment: [:])
        } throws: { error in
            let text = "\(error)"
            return (error as? ConfigurationError)?.code == .unreadableFile && !text.contains("s3cret") && text.contains("line")
        }
    }
}
