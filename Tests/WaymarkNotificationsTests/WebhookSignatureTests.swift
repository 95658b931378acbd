import Foundation
import PropertyBased
import Testing
import WaymarkNotifications

@Suite struct WebhookSignatureTests {
    // The Standard Webhooks project's published test vector: the secret, id, timestamp, body and
    // signature its reference libraries test against (standard-webhooks/standard-webhooks,
    // libraries/*/ tests; the same values appear in Svix's libraries).
    static let vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let vectorID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let vectorTimestamp: Int64 = 1_614_265_330
    static let vectorBody = Array(#"{"test": 2432232314}"#.utf8)
    static let vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    static func at(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: Double(seconds)) }

    @Test("signing reproduces the Standard Webhooks test vector") func signsTheSpecificationsVector() throws {
        let headers = try WebhookSigner.sign(
            id: Self.vectorID, timestamp: Self.vectorTimestamp, body: Self.vectorBody, secrets: [try WebhookSecret(parsing: Self.vectorSecret)])
        #expect(headers.signature == Self.vectorSignature)
        #expect(headers.asPairs.map(\.0) == ["webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(headers.asPairs[1].1 == "1614265330")
    }

    @Test("the verifier accepts the vector among other signatures") func verifiesTheSpecificationsVectorAmongOtherSignatures() throws {
        let verifier = WebhookVerifier(secrets: [try WebhookSecret(parsing: Self.vectorSecret)])
        // A rotated-out signature and an asymmetric one beside the valid one: any match accepts.
        let header = "v1,Zm9yZ2VkLXNpZ25hdHVyZS1vZi1hbi1vbGQta2V5MTIzNDU2Nzg= v1a,aGVsbG8= \(Self.vectorSignature)"
        let checked = try verifier.verify(
            id: Self.vectorID, timestamp: "1614265330", signature: header, body: Self.vectorBody, now: Self.at(Self.vectorTimestamp + 299))
        #expect(checked.id == Self.vectorID)
        #expect(checked.timestamp == Self.vectorTimestamp)
    }

    @Test("the verifier refuses with stable codes") func refusesWithStableCodes() throws {
        let verifier = WebhookVerifier(secrets: [try WebhookSecret(parsing: Self.vectorSecret)], tolerance: .seconds(300))
        func code(
            id: String? = Self.vectorID, timestamp: String? = "1614265330", signature: String? = Self.vectorSignature, body: [UInt8] = Self.vectorBody,
            now: Int64 = Self.vectorTimestamp
        )
            -> WebhookSignatureError.Code?
        {
            do {
                try verifier.verify(id: id, timestamp: timestamp, signature: signature, body: body, now: Self.at(now))
                return nil
            } catch let error as WebhookSignatureError {
                #expect(!error.description.contains(Self.vectorSecret))
                return error.code
            } catch {
                Issue.record("unexpected \(error)")
                return nil
            }
        }
        #expect(code() == nil)
        #expect(code(id: nil) == .missingHeader)
        #expect(code(timestamp: nil) == .missingHeader)
        #expect(code(signature: nil) == .missingHeader)
        #expect(code(id: "msg.with.dots") == .invalidID)
        #expect(code(timestamp: "1614265330.5") == .invalidTimestamp)
        #expect(code(timestamp: "soon") == .invalidTimestamp)
        #expect(code(now: Self.vectorTimestamp + 301) == .timestampOutOfTolerance)
        #expect(code(now: Self.vectorTimestamp - 301) == .timestampOutOfTolerance)
        #expect(code(now: Self.vectorTimestamp + 300) == nil)
        #expect(code(signature: "v1,not-base64!") == .signatureMismatch)
        #expect(code(signature: "v1a," + Self.vectorSignature.dropFirst(3)) == .signatureMismatch)
        #expect(code(body: Array(#"{"test": 2432232315}"#.utf8)) == .signatureMismatch)
        // `F` differs from the vector's `E` only in the padding bits: a lenient decoder gives the
        // same bytes, so only canonical base64 keeps "any changed byte fails" true.
        #expect(code(signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=") == .signatureMismatch)
        let wrong = WebhookVerifier(secrets: [WebhookSecret.random()])
        #expect(throws: WebhookSignatureError.self) {
            try wrong.verify(
                id: Self.vectorID, timestamp: "1614265330", signature: Self.vectorSignature, body: Self.vectorBody, now: Self.at(Self.vectorTimestamp))
        }
    }

    @Test("secrets parse strictly and never show") func secretsParseStrictlyAndNeverShow() throws {
        let secret = try WebhookSecret(parsing: Self.vectorSecret)
        #expect(secret.serialized() == Self.vectorSecret)
        for shown in [secret.description, String(reflecting: secret), "\(secret)", String(describing: [secret])] {
            #expect(!shown.contains("MfKQ9r8"), "\(shown)")
        }
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("MfKQ9r8"))
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ=", "whsec_" + Data(count: 65).base64EncodedString()] {
            #expect {
                try WebhookSecret(parsing: bad)
            } throws: { error in
                (error as? WebhookSignatureError)?.code == .invalidSecret && !"\(error)".contains(bad)
            }
        }
        #expect(WebhookSecret.random().serialized() != WebhookSecret.random().serialized())
    }

    @Test("while rotating, each secret signs") func rotationSignsWithEverySecret() throws {
        let current = WebhookSecret.random()
        let previous = WebhookSecret.random()
        let headers = try WebhookSigner.sign(id: "n_1", timestamp: 100, body: Array("{}".utf8), secrets: [current, previous])
        #expect(headers.signature.split(separator: " ").count == 2)
        for secret in [current, previous] {
            try WebhookVerifier(secrets: [secret]).verify(id: "n_1", timestamp: "100", signature: headers.signature, body: Array("{}".utf8), now: Self.at(100))
        }
    }

    @Test("any signed delivery verifies (property)") func signedDeliveriesVerify() async {
        await propertyCheck(input: Gen.uint8().array(of: 0...300), Gen.int(in: 0...2_000_000_000)) { body, time in
            let secret = WebhookSecret.random()
            let headers = try WebhookSigner.sign(id: "msg_\(time)", timestamp: Int64(time), body: body, secrets: [secret])
            let checked = try WebhookVerifier(secrets: [secret]).verify(
                id: headers.id, timestamp: String(headers.timestamp), signature: headers.signature, body: body, now: Self.at(Int64(time)))
            #expect(checked.id == headers.id)
        }
    }

    /// Any one changed byte of body, id, timestamp or signature fails verification.
    @Test("any one changed byte of body, id, timestamp or signature fails verification (property)") func anyChangedByteFails() async {
        await propertyCheck(input: Gen.uint8().array(of: 1...200), Gen.int(in: 0...10_000), Gen.uint8(), Gen.int(in: 0...3)) { body, position, flip, part in
            let secret = WebhookSecret.random()
            let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
            let time: Int64 = 1_674_087_231
            let headers = try WebhookSigner.sign(id: id, timestamp: time, body: body, secrets: [secret])
            let change = flip == 0 ? 1 : flip
            func changed(_ bytes: [UInt8]) -> [UInt8] {
                var bytes = bytes
                bytes[position % bytes.count] ^= change
                return bytes
            }
            func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
            var id2 = id
            var stamp = String(time)
            var signature = headers.signature
            var body2 = body
            switch part {
            case 0: body2 = changed(body)
            case 1: id2 = text(changed(Array(id.utf8)))
            case 2: stamp = text(changed(Array(stamp.utf8)))
            default: signature = text(changed(Array(signature.utf8)))
            }
            // A changed timestamp far off the clock fails on tolerance, so the clock follows it
            // where it still parses: the signature alone must catch the change.
            let now = Int64(stamp).map { Self.at($0) } ?? Self.at(time)
            #expect(throws: WebhookSignatureError.self) {
                try WebhookVerifier(secrets: [secret], tolerance: .seconds(10)).verify(id: id2, timestamp: stamp, signature: signature, body: body2, now: now)
            }
        }
    }
}
