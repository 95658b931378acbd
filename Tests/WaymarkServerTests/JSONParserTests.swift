import Foundation
import NIOCore
import Testing

@testable import WaymarkServer

@Suite("HTTP API: the JSON body reader")
struct JSONParserTests {
    static func random(_ depth: Int, _ generator: inout some RandomNumberGenerator) -> JSONValue {
        let kind = depth > 3 ? Int.random(in: 0...4, using: &generator) : Int.random(in: 0...6, using: &generator)
        let alphabet = Array("aé\"\\/\n\t\u{1}€𝄞 z09{}[],:")
        switch kind {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Int64.random(in: Int64.min...Int64.max, using: &generator))
        case 3:
            // A whole double is written as a whole number and read back as an integer, as documented:
            // the generator keeps to doubles with a fraction (at 1e12 one draw in ten thousand is whole).
            var number: Double
            repeat { number = Double.random(in: -1e12...1e12, using: &generator) } while number.rounded() == number
            return .number(number)
        case 4: return .string(String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        case 5: return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in random(depth + 1, &generator) })
        default:
            var fields: [String: JSONValue] = [:]
            for index in 0..<Int.random(in: 0...4, using: &generator) {
                fields["k\(index)\(alphabet.randomElement(using: &generator)!)"] = random(depth + 1, &generator)
            }
            return .object(fields)
        }
    }

    @Test("whatever JSONEncoder writes reads back as the same value, also pretty-printed")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let value = Self.random(0, &generator)
            for formatting in [JSONEncoder.OutputFormatting(), [.prettyPrinted, .sortedKeys]] {
                let encoder = JSONEncoder()
                encoder.outputFormatting = formatting
                let data = try encoder.encode(value)
                #expect(try JSONParser.parse(ByteBuffer(bytes: data)) == value, "\(String(decoding: data, as: UTF8.self))")
            }
        }
    }

    @Test("the compact text a value is stored as reads back as the value, and Foundation reads it too")
    func textRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let value = Self.random(0, &generator)
            let text = value.text
            #expect(try JSONParser.parse(text) == value, "\(text)")
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) != nil, "\(text)")
        }
        #expect(JSONValue.object(["b": .integer(1), "a": .string("x/y\u{7}")]).text == #"{"a":"x/y\u0007","b":1}"#)
    }

    @Test("numbers, escapes and surrogate pairs as RFC 8259 has them")
    func forms() throws {
        func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(ByteBuffer(string: text)) }
        #expect(try parse("9223372036854775807") == .integer(.max))
        #expect(try parse("-9223372036854775808") == .integer(.min))
        #expect(try parse("18446744073709551615") == .number(18_446_744_073_709_551_615))
        #expect(try parse("1.0") == .number(1) && parse("1e2") == .number(100) && parse("-0.5E-1") == .number(-0.05))
        #expect(try parse(#""\u00e9\ud834\udd1e\n\/""#) == .string("é𝄞\n/"))
        #expect(try parse(" {\"a\" : [ true , false , null ] } ") == .object(["a": .array([.bool(true), .bool(false), .null])]))
    }

    @Test("what is not JSON is refused: trailing text, bad numbers and escapes, raw control characters, lone surrogates, bad UTF-8, deep nesting")
    func refusals() {
        let texts = [
            "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "-", "1 2", "tru", "nul", "\"abc", "\"a\\x\"", "\"\u{1}\"",
            #""\ud834""#, #""\udd1e""#, #""\u12g4""#, "{a:1}", "[1]x", "1e400", "NaN",
            String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
        ]
        for text in texts {
            #expect(throws: (any Error).self, "\(text.prefix(40))") { try JSONParser.parse(ByteBuffer(string: text)) }
        }
        #expect(throws: (any Error).self) { try JSONParser.parse(ByteBuffer(bytes: [0x22, 0xC3, 0x28, 0x22])) }
    }
}
