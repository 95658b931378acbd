import Foundation
import PropertyBased
import Testing
import WaymarkTesting

@testable import WaymarkDomain

@Suite("Event JSON")
struct EventJSONTests {
    /// Strings with what JSON must escape: quotes, backslashes, control characters, non-ASCII and
    /// characters outside the Basic Multilingual Plane (surrogate pairs in `\u` escapes).
    static let tricky = Gen.oneOf(
        Gen.lowercaseLetter.map { Unicode.Scalar(String($0))! },
        Gen.unicodeScalar(in: "\u{0}"..."\u{7F}"),
        Gen.unicodeScalar(in: "\u{A0}"..."\u{17F}"),
        Gen.unicodeScalar(in: "\u{1F600}"..."\u{1F64F}")
    ).array(of: 0...12).map { scalars in String(String.UnicodeScalarView(scalars)) }

    @Test("random journey events read back equal, compact, pretty-printed and with escapes for every non-ASCII character")
    func roundTrips() async {
        await propertyCheck(
            count: 300, input: Self.tricky.array(of: 6), Gen.int(in: 0...10), Gen.bool(),
            perform: recordingErrors { (words: [String], score: Int, optional: Bool) in
                let events: [JourneyEvent] = [
                    .started(
                        .init(
                            journeyId: words[0], customerId: words[1], journeyType: words[2], definitionVersion: words[3], tier: words[4], stage: words[5],
                            department: words[0], externalProcessId: optional ? words[1] : nil, owner: optional ? nil : words[2])),
                    .handoffRequested(
                        .init(
                            fromStage: words[0], toStage: words[1], fromDepartment: words[2], toDepartment: words[3],
                            facts: Dictionary(words.map { ($0, $0 + "!") }) { first, _ in first })),
                    .handoffRejected(.init(toStage: words[4], by: words[5], reason: optional ? words[0] : nil)),
                    .cancelled(.init(reason: words[1], compensationsOwed: words)),
                    .feedbackReceived(.init(kind: optional ? .nps : .csat, score: score, channel: words[2])),
                    .waitingOnCustomer(.init(reason: nil)),
                ]
                for event in events {
                    let data = try! event.data()
                    #expect(try! JourneyEvent.decode(type: event.type, data: data) == event, "\(data)")
                    // PostgreSQL's jsonb prints spaces between tokens; other writers add more.
                    let pretty = try! Self.reformat(data, [.prettyPrinted])
                    #expect(try! JourneyEvent.decode(type: event.type, data: pretty) == event, "\(pretty)")
                    let escaped = Self.escapingNonASCII(data)
                    #expect(try! JourneyEvent.decode(type: event.type, data: escaped) == event, "\(escaped)")
                }
            })
    }

    @Test("the reader itself decodes what the store holds, without JSONDecoder")
    func decodesDirectly() throws {
        let text =
            #"{"tier": "standard", "owner": null, "stage": "qualification", "journeyId": "s1-1", "customerId": "c\u00e9-\ud83d\ude00", "department": "sales", "journeyType": "new-business", "definitionVersion": "2026.11+1392", "externalProcessId": "CRM-1", "extra": {"nested": [1, 2.5e3, true, false, null]}}"#
        var copy = text
        let parsed = try #require(
            copy.withUTF8 { bytes in
                var parser = JSONParser(bytes: bytes)
                return parser.document()
            })
        let started = try JourneyEvent.Started(from: EventJSONDecoder(value: parsed))
        #expect(started.customerId == "cé-😀" && started.owner == nil && started.externalProcessId == "CRM-1")
        #expect(started == (try JSONDecoder().decode(JourneyEvent.Started.self, from: Data(text.utf8))))
    }

    /// Texts at the edges of JSON: each decodes to what JSONDecoder gives, or fails where it fails.
    @Test(
        "edge cases decode as JSONDecoder decodes them, or fail as it fails",
        arguments: [
            #"{"kind":"csat","score":5,"channel":"web"}"#,
            #"{"kind":"csat","score":5.0,"channel":"web"}"#,
            #"{"kind":"csat","score":5e0,"channel":"web"}"#,
            #"{"kind":"csat","score":-0,"channel":"web"}"#,
            #"{"kind":"csat","score":05,"channel":"web"}"#,
            #"{"kind":"csat","score":"5","channel":"web"}"#,
            #"{"kind":"csat","score":5,"channel":"web","channel":"app"}"#,
            #"{"kind":"csat","score":5,"channel":"w\u0000b"}"#,
            #"{"kind":"csat","score":5,"channel":"\ud83d\ude00"}"#,
            #"{"kind":"csat","score":5,"channel":"\ud83d"}"#,
            #"{"kind":"csat","score":5,"channel":"\x"}"#,
            "{\"kind\":\"csat\",\"score\":5,\"channel\":\"a\tb\"}",
            #"{"kind":"csat","score":5,"channel":"web"} x"#,
            #"{"kind":"csat","score":5,"channel":"web",}"#,
            #"{"kind":"csat","score":5}"#,
            #"{"kind":"csat","score":null,"channel":"web"}"#,
            #"{"kind":"stars","score":5,"channel":"web"}"#,
            #"{"kind":"csat","score":5,"channel":"web","comment":null}"#,
            #"{"kind":"csat","score":99999999999999999999,"channel":"web"}"#,
            #"[{"kind":"csat"}]"#,
            #""#,
            #"{"#,
        ])
    func edgeCases(text: String) {
        let ours = Result { try EventJSON.decode(JourneyCommand.Feedback.self, from: text, fallback: EventCodec.decoder) }
        let theirs = Result { try EventCodec.decoder.decode(JourneyCommand.Feedback.self, from: Data(text.utf8)) }
        switch (ours, theirs) {
        case (.success(let mine), .success(let expected)): #expect(mine == expected)
        case (.failure, .failure): break
        default: Issue.record("\(text): EventJSON gave \(ours), JSONDecoder \(theirs)")
        }
    }

    struct Stamped: Decodable, Equatable {
        var at: Date
        var later: Date?
        var all: [Date]?
    }

    /// Dates as events hold them, and odd ones: each decodes to what the codec's JSONDecoder gives
    /// (to the microsecond), or fails where it fails.
    @Test(
        "dates decode as the codec's JSONDecoder decodes them, or fail as it fails",
        arguments: [
            #"{"at":"2026-12-06T08:00:00Z"}"#,
            #"{"at":"2026-12-06T08:00:00.5Z","later":"2026-12-06T08:00:00.000001Z"}"#,
            #"{"at":"2026-12-06T08:00:00.123456Z","all":["1970-01-01T00:00:00Z","1969-12-31T23:59:59.999999Z"]}"#,
            #"{"at":"2026-12-06T08:00:00.1234567Z"}"#,
            #"{"at":"2026-12-06T09:00:00+01:00"}"#,
            #"{"at":"2026-12-06T08:00:00.25+05:30"}"#,
            #"{"at":"2026-12-06 08:00:00Z"}"#,
            #"{"at":"2026-12-06T08:00:00"}"#,
            #"{"at":"2026-02-30T08:00:00Z"}"#,
            #"{"at":"2026-12-06T08:00:00.Z"}"#,
            #"{"at":"yesterday"}"#,
            #"{"at":1765008000}"#,
            #"{"at":null}"#,
            #"{"at":"2026-12-06T08:00:00Z","later":null}"#,
        ])
    func dates(text: String) {
        let ours = Result { try EventJSON.decode(Stamped.self, from: text, fallback: EventCodec.decoder) }
        let theirs = Result { try EventCodec.decoder.decode(Stamped.self, from: Data(text.utf8)) }
        switch (ours, theirs) {
        case (.success(let mine), .success(let expected)):
            #expect(mine == expected, "\(text)")
        case (.failure, .failure): break
        default: Issue.record("\(text): EventJSON gave \(ours), JSONDecoder \(theirs)")
        }
        // And the fast reader, not the fallback, reads every date the events write.
        if text.contains("Z\"") && !text.contains(" ") && !text.contains("02-30") && !text.contains(".Z") {
            var copy = text
            let parsed = copy.withUTF8 { bytes in
                var parser = JSONParser(bytes: bytes)
                return parser.document()
            }
            #expect((try? Stamped(from: EventJSONDecoder(value: parsed!))) != nil, "\(text) left to JSONDecoder")
        }
    }

    static func reformat(_ text: String, _ formatting: JSONSerialization.WritingOptions) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: formatting), as: UTF8.self)
    }

    /// `text` with every non-ASCII character written as `\u` escapes (pairs beyond the BMP).
    static func escapingNonASCII(_ text: String) -> String {
        var out = ""
        for unit in text.utf16 {
            if unit < 0x80 { out.unicodeScalars.append(Unicode.Scalar(unit)!) } else { out += String(format: "\\u%04x", unit) }
        }
        return out
    }
}
