import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing
import WaymarkServer
import WaymarkTesting

@Suite("HTTP API: TLS", .scaledTimeLimit(minutes: 3))
struct TLSTests {
    static func get(_ url: String, trusting authority: TestCertificateAuthority?) async throws -> Int {
        var configuration = HTTPClient.Configuration()
        if let authority { configuration.tlsConfiguration = try authority.trustingClient() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            return Int(response.status.code)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    @Test("over TLS with a certificate of the test's CA: a client trusting that CA is answered; one trusting another, or speaking plain HTTP, is not")
    func serves() async throws {
        let authority = try TestCertificateAuthority()
        try await ServerFixture.run(tls: authority) { fixture in
            #expect(fixture.base.hasPrefix("https://"))
            #expect(try await fixture.request(.GET, "/healthz", key: nil).status == 200)
            #expect(try await fixture.request(.GET, "/v1/projections", key: fixture.key(.operator)).status == 200)
            let stranger = try TestCertificateAuthority(commonName: "Another CA")
            await #expect(throws: (any Error).self) { _ = try await Self.get(fixture.base + "/healthz", trusting: stranger) }
            await #expect(throws: (any Error).self) { _ = try await Self.get(fixture.base + "/healthz", trusting: nil) }
            let plain = fixture.base.replacingOccurrences(of: "https://", with: "http://") + "/healthz"
            await #expect(throws: (any Error).self) { _ = try await Self.get(plain, trusting: nil) }
        }
    }

    @Test("certificate and key files that cannot be used are refused before the server starts, naming the file")
    func badFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let authority = try TestCertificateAuthority()
        let (certificate, _) = try authority.issue()
        let (_, otherKey) = try authority.issue()
        try TestCertificateAuthority.write(certificate, to: folder + "/server.pem")
        try TestCertificateAuthority.write(otherKey, to: folder + "/other.key")
        try TestCertificateAuthority.write("not a key", to: folder + "/garbage.key")
        let cases = [
            (folder + "/missing.pem", folder + "/other.key", "cannot read the TLS certificate \(folder)/missing.pem"),
            (folder + "/server.pem", folder + "/garbage.key", "cannot read the TLS private key \(folder)/garbage.key"),
            (folder + "/server.pem", folder + "/other.key", "does not go with the certificate"),
        ]
        for (certificateFile, keyFile, expected) in cases {
            do {
                _ = try ApiServer.tlsConfiguration(certificateFile: certificateFile, keyFile: keyFile)
                Issue.record("\(certificateFile) with \(keyFile) was taken")
            } catch let error as ApiError {
                #expect(error.message.contains(expected), "\(error.message)")
            }
        }
    }
}
