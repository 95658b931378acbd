import Crypto
import Foundation
import WaymarkErrors

/// A webhook signing secret in the Standard Webhooks form `whsec_<base64>`: 24 to 64 random bytes.
///
/// The key never shows: `description`, `debugDescription` and reflection print `whsec_…` only, so a
/// secret that ends up in a log line, an error or a test failure message leaks nothing.
public struct WebhookSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let key: SymmetricKey

    public static let prefix = "whsec_"
    /// The specification asks for at least 24 random bytes and allows up to 64.
    public static let keyBytes = 24...64

    /// Parses `whsec_<base64>`; refuses anything else without echoing the value.
    public init(parsing text: String) throws {
        guard text.hasPrefix(Self.prefix) else {
            throw WebhookSignatureError(.invalidSecret, "a webhook secret starts with '\(Self.prefix)' followed by base64")
        }
        guard let bytes = Data(base64Encoded: String(text.dropFirst(Self.prefix.count))) else {
            throw WebhookSignatureError(.invalidSecret, "the part after '\(Self.prefix)' is not base64")
        }
        guard Self.keyBytes.contains(bytes.count) else {
            throw WebhookSignatureError(
                .invalidSecret, "a webhook secret holds \(Self.keyBytes.lowerBound) to \(Self.keyBytes.upperBound) bytes, not \(bytes.count)")
        }
        key = SymmetricKey(data: bytes)
    }

    /// A new random secret of 32 bytes (for `waymark` to hand out, and for tests).
    public static func random() -> WebhookSecret {
        WebhookSecret(key: SymmetricKey(size: .bits256))
    }

    init(key: SymmetricKey) { self.key = key }

    /// The secret in its `whsec_` form, for handing to the receiver once; never log it.
    public func serialized() -> String {
        Self.prefix + key.withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public var description: String { "\(Self.prefix)…" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// The three Standard Webhooks headers of one delivery attempt.
public struct WebhookSignatureHeaders: Sendable, Equatable {
    public static let idName = "webhook-id"
    public static let timestampName = "webhook-timestamp"
    public static let signatureName = "webhook-signature"

    /// The notification's dedupe key: the same on every attempt, so a receiver drops repeats.
    public var id: String
    /// The attempt's time in whole Unix seconds: new on every attempt.
    public var timestamp: Int64
    /// `v1,<base64>`, one per secret, space-separated (several while a secret is rotated).
    public var signature: String

    public var asPairs: [(String, String)] {
        [(Self.idName, id), (Self.timestampName, String(timestamp)), (Self.signatureName, signature)]
    }
}

/// Signs deliveries as the Standard Webhooks specification says: HMAC-SHA256 over
/// `<webhook-id>.<webhook-timestamp>.<body>`, sent as `v1,<base64>`
/// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).
public enum WebhookSigner {
    /// Signs `body` with each secret (the current one first while rotating).
    public static func sign(id: String, timestamp: Int64, body: some DataProtocol, secrets: [WebhookSecret]) throws -> WebhookSignatureHeaders {
        try WebhookMessageID.check(id)
        guard !secrets.isEmpty else { throw WebhookSignatureError(.invalidSecret, "signing needs at least one secret") }
        let content = signedContent(id: id, timestamp: String(timestamp), body: body)
        let signatures = secrets.map { secret in
            "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: secret.key)).base64EncodedString()
        }
        return WebhookSignatureHeaders(id: id, timestamp: timestamp, signature: signatures.joined(separator: " "))
    }

    static func signedContent(id: String, timestamp: String, body: some DataProtocol) -> [UInt8] {
        var content = Array("\(id).\(timestamp).".utf8)
        content.append(contentsOf: body)
        return content
    }
}

/// The specification asks that ids not contain `.`: `a.1` + `2` + `x` and `a` + `1` + `2.x`
/// would otherwise sign the same bytes.
enum WebhookMessageID {
    static func check(_ id: String) throws {
        guard !id.isEmpty, id.utf8.count <= 256, !id.contains("."), id.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127 })
        else {
            throw WebhookSignatureError(.invalidID, "a webhook id is 1 to 256 printable ASCII characters without '.' or spaces")
        }
    }
}

/// The receiving side: checks a delivery's headers against the endpoint's secrets and a clock.
public struct WebhookVerifier: Sendable {
    public var secrets: [WebhookSecret]
    /// How far `webhook-timestamp` may be from the receiver's clock, either way (replays).
    public var tolerance: Duration

    public init(secrets: [WebhookSecret], tolerance: Duration = .seconds(300)) {
        self.secrets = secrets
        self.tolerance = tolerance
    }

    /// Verifies one delivery; `header` looks a header up by its lower-case name. Returns the
    /// checked headers (the id is the dedupe key).
    @discardableResult
    public func verify(header: (String) -> String?, body: some DataProtocol, now: Date) throws -> WebhookSignatureHeaders {
        try verify(
            id: header(WebhookSignatureHeaders.idName), timestamp: header(WebhookSignatureHeaders.timestampName),
            signature: header(WebhookSignatureHeaders.signatureName), body: body, now: now)
    }

    @discardableResult
    public func verify(id: String?, timestamp: String?, signature: String?, body: some DataProtocol, now: Date) throws -> WebhookSignatureHeaders {
        guard let id else { throw WebhookSignatureError(.missingHeader, "the '\(WebhookSignatureHeaders.idName)' header is missing") }
        guard let timestamp else { throw WebhookSignatureError(.missingHeader, "the '\(WebhookSignatureHeaders.timestampName)' header is missing") }
        guard let signature else { throw WebhookSignatureError(.missingHeader, "the '\(WebhookSignatureHeaders.signatureName)' header is missing") }
        try WebhookMessageID.check(id)
        guard !timestamp.isEmpty, timestamp.utf8.count <= 18, timestamp.allSatisfy({ $0.isASCII && $0.isNumber }), let seconds = Int64(timestamp) else {
            throw WebhookSignatureError(.invalidTimestamp, "'\(WebhookSignatureHeaders.timestampName)' is not whole Unix seconds")
        }
        let skew = Duration.seconds(abs(now.timeIntervalSince1970 - Double(seconds)))
        guard skew <= tolerance else {
            throw WebhookSignatureError(
                .timestampOutOfTolerance,
                "'\(WebhookSignatureHeaders.timestampName)' is \(Int(skew.components.seconds)) s from this receiver's clock; at most \(tolerance.components.seconds) s are accepted"
            )
        }
        let content = WebhookSigner.signedContent(id: id, timestamp: timestamp, body: body)
        // Other schemes (`v1a` for ed25519) are skipped, not refused: a sender may add them beside `v1`.
        for entry in signature.split(separator: " ", omittingEmptySubsequences: true) where entry.hasPrefix("v1,") {
            // Only canonical base64: otherwise a changed last character could decode to the same bytes.
            let encoded = String(entry.dropFirst(3))
            guard let code = Data(base64Encoded: encoded), code.base64EncodedString() == encoded else { continue }
            for secret in secrets where HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: content, using: secret.key) {
                return WebhookSignatureHeaders(id: id, timestamp: seconds, signature: signature)
            }
        }
        throw WebhookSignatureError(.signatureMismatch, "no v1 signature in '\(WebhookSignatureHeaders.signatureName)' matches the endpoint's secrets")
    }
}

/// Why a signature could not be made or a delivery was not accepted.
public struct WebhookSignatureError: WaymarkError, Equatable {
    public struct Code: WaymarkErrorCode, CaseIterable {
        private enum Base: String, CaseIterable {
            case invalidSecret = "webhook_secret_invalid"
            case invalidID = "webhook_id_invalid"
            case missingHeader = "webhook_header_missing"
            case invalidTimestamp = "webhook_timestamp_invalid"
            case timestampOutOfTolerance = "webhook_timestamp_out_of_tolerance"
            case signatureMismatch = "webhook_signature_mismatch"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A secret that is not `whsec_` + base64 of 24 to 64 bytes (the value is never shown).
        public static let invalidSecret = Code(.invalidSecret)
        /// A `webhook-id` that is empty, too long, or holds `.`, spaces or non-ASCII characters.
        public static let invalidID = Code(.invalidID)
        /// A delivery without one of the three `webhook-` headers.
        public static let missingHeader = Code(.missingHeader)
        /// A `webhook-timestamp` that is not whole Unix seconds.
        public static let invalidTimestamp = Code(.invalidTimestamp)
        /// A `webhook-timestamp` too far from the receiver's clock: a replay, or a clock to fix.
        public static let timestampOutOfTolerance = Code(.timestampOutOfTolerance)
        /// No `v1` signature matches: a wrong secret, or a body changed on the way.
        public static let signatureMismatch = Code(.signatureMismatch)

        public static var allCases: [Code] { Base.allCases.map(Code.init) }
        public var name: String { base.rawValue }
        public var kind: ErrorKind {
            switch base {
            case .invalidSecret: return .internal
            default: return .invalidInput
            }
        }
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
