import Foundation
import Testing
import WaymarkPostgres
import WaymarkTesting

/// A private server with `ssl = on` and a certificate of the test's CA, for `localhost` only: libpq
/// checks what the URL's `sslmode` asks for, in every connection Waymark opens.
@Suite("PostgreSQL over TLS (sslmode=verify-full)", .serialized, .scaledTimeLimit(minutes: 3))
struct PostgresTLSTests {
    @Test("verify-full connects to the certified name and checks the CA; another CA, or another name, is refused; verify-ca skips the name")
    func verifyFull() async throws {
        let authority = try TestCertificateAuthority()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-pgtls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (certificate, key) = try authority.issue(commonName: "localhost", dnsNames: ["localhost"], addresses: [])
        let serverUser = geteuid() == 0 ? "postgres" : nil
        try TestCertificateAuthority.write(certificate, to: folder + "/server.crt", owner: serverUser)
        try TestCertificateAuthority.write(key, to: folder + "/server.key", owner: serverUser)
        try TestCertificateAuthority.write(authority.certificatePEM, to: folder + "/root.crt")
        try TestCertificateAuthority.write(try TestCertificateAuthority(commonName: "Another CA").certificatePEM, to: folder + "/other.crt")

        var settings = LocalPostgresCluster.testSettings
        settings["ssl"] = "on"
        settings["ssl_cert_file"] = folder + "/server.crt"
        settings["ssl_key_file"] = folder + "/server.key"
        let cluster = try LocalPostgresCluster.startTemporary(prefix: "waymark-pg-tls", settings: settings, logger: TestDatabase.quietLogger)
        defer { cluster.stop(removeData: true) }

        func url(host: String, _ parameters: String) -> String {
            "postgresql://waymark@\(host):\(cluster.port)/postgres?hostaddr=127.0.0.1&\(parameters)"
        }
        let verified = url(host: "localhost", "sslmode=verify-full&sslrootcert=\(folder)/root.crt")
        let connection = try await PostgresConnection.connect(PostgresConfiguration(url: verified))
        let row = try await connection.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0]
        let (ssl, version) = try row.decode(Bool.self, String.self)
        #expect(ssl && version.hasPrefix("TLS"), "\(version)")
        await connection.close()

        // The pool, and so every store, opens its connections the same way.
        let pool = PostgresPool(configuration: PostgresConfiguration(url: verified), maxConnections: 2, logger: TestDatabase.quietLogger)
        let pooled = try await pool.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        #expect(try pooled[0].decode(Bool.self, at: 0))
        await pool.close()

        let refused: [(String, String)] = [
            (url(host: "localhost", "sslmode=verify-full&sslrootcert=\(folder)/other.crt"), "certificate verify failed"),
            (url(host: "db.elsewhere.test", "sslmode=verify-full&sslrootcert=\(folder)/root.crt"), "does not match host name"),
        ]
        for (target, reason) in refused {
            do {
                let opened = try await PostgresConnection.connect(PostgresConfiguration(url: target))
                await opened.close()
                Issue.record("connected to \(target)")
            } catch let error as PostgresError {
                #expect(error.message.contains(reason), "\(error.message)")
            }
        }
        // verify-ca checks the chain and not the name.
        let chainOnly = try await PostgresConnection.connect(
            PostgresConfiguration(url: url(host: "db.elsewhere.test", "sslmode=verify-ca&sslrootcert=\(folder)/root.crt")))
        await chainOnly.close()
    }
}
