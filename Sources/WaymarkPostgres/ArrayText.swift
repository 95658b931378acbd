/// One-dimensional arrays in PostgreSQL's text output (`{a,"b c",NULL}`), each element decoded
/// as `Element` decodes a column: a read model's `text[]` comes back without a detour through
/// `array_to_json` and a JSON decoder.
extension Array: PostgresDecodable where Element: PostgresDecodable {
    public static func decode(postgresText bytes: UnsafeBufferPointer<UInt8>) throws -> [Element] {
        let (open, close, quote, backslash, comma) = (UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: ","))
        // A lower bound other than 1 prints as `[0:2]={…}`, several dimensions as `{{…}}`.
        guard bytes.count >= 2, bytes[0] == open, bytes[bytes.count - 1] == close else {
            throw DecodingMismatch(message: "not a one-dimensional array with lower bound 1")
        }
        let end = bytes.count - 1
        var elements: [Element] = []
        guard end > 1 else { return elements }
        var unescaped: [UInt8] = []
        var index = 1
        while true {
            if bytes[index] == quote {
                // Quoted: any text, with `\"` and `\\` escaped.
                unescaped.removeAll(keepingCapacity: true)
                index += 1
                while true {
                    guard index < end else { throw DecodingMismatch(message: "an array element's quotes are not closed") }
                    var byte = bytes[index]
                    if byte == quote { break }
                    if byte == backslash {
                        index += 1
                        guard index < end else { throw DecodingMismatch(message: "an array element ends in a lone backslash") }
                        byte = bytes[index]
                    }
                    unescaped.append(byte)
                    index += 1
                }
                index += 1
                elements.append(try unescaped.withUnsafeBufferPointer { try Element.decode(postgresText: $0) })
            } else {
                let start = index
                while index < end, bytes[index] != comma {
                    guard bytes[index] != open, bytes[index] != quote, bytes[index] != backslash else {
                        throw DecodingMismatch(message: "not a one-dimensional array (an unquoted element holds '\(Character(Unicode.Scalar(bytes[index])))')")
                    }
                    index += 1
                }
                let element = UnsafeBufferPointer(rebasing: bytes[start..<index])
                guard !element.isEmpty else { throw DecodingMismatch(message: "an array element is missing") }
                if element.elementsEqual("NULL".utf8) {
                    do { elements.append(try Element.decodeNull()) } catch {
                        throw DecodingMismatch(message: "a NULL element for a non-optional \(Element.self)")
                    }
                } else {
                    elements.append(try Element.decode(postgresText: element))
                }
            }
            if index == end { return elements }
            guard bytes[index] == comma else { throw DecodingMismatch(message: "array elements are not separated by commas") }
            index += 1
            guard index < end else { throw DecodingMismatch(message: "an array element is missing") }
        }
    }
}
