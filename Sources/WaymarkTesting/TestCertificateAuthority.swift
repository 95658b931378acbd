import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// A certificate authority of the tests' own: a CA certificate, and server certificates it signs
/// for the names and addresses a test connects to. Keys are P-256; PEM throughout.
public struct TestCertificateAuthority: Sendable {
    private let key: P256.Signing.PrivateKey
    private let certificate: Certificate
    private let name: DistinguishedName

    public init(commonName: String = "Waymark test CA") throws {
        key = P256.Signing.PrivateKey()
        name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey), notValidBefore: now.addingTimeInterval(-3_600),
            notValidAfter: now.addingTimeInterval(86_400), issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    /// The CA's certificate: what a client trusts.
    public var certificatePEM: String { (try? certificate.serializeAsPEM().pemString) ?? "" }

    /// A client's TLS settings that trust this CA (and nothing else).
    public func trustingClient() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)))
        return configuration
    }

    /// A server certificate for `dnsNames` and IPv4 `addresses`, and its private key (PKCS #8).
    public func issue(commonName: String = "localhost", dnsNames: [String] = ["localhost"], addresses: [[UInt8]] = [[127, 0, 0, 1]]) throws -> (
        certificatePEM: String, keyPEM: String
    ) {
        let serverKey = P256.Signing.PrivateKey()
        let now = Date()
        let names = dnsNames.map { GeneralName.dnsName($0) } + addresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) }
        let issued = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(86_400), issuer: name,
            subject: try DistinguishedName { CommonName(commonName) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(key))
        return (try issued.serializeAsPEM().pemString, serverKey.pemRepresentation)
    }

    /// Writes `text` to `path`, readable by its owner only (as PostgreSQL wants a key file), and,
    /// when this process runs as root, owned by `owner` (the user the private server runs as).
    public static func write(_ text: String, to path: String, owner: String? = nil) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: 0o600]
        if let owner, geteuid() == 0 { attributes[.ownerAccountName] = owner }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
    }
}
