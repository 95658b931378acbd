import Foundation
import Testing
import WaymarkDomain

@Suite("consent.yaml: propagation times")
struct ConsentPropagationConfigTests {
    static let yaml = """
        purposes:
          marketing:
            channels: [email]
            downstream: [crm, marketing-automation]
          service-updates:
            channels: [email]
            downstream: [billing]
        propagation:
          due_within: 4h
          systems:
            billing: 1d
        """

    @Test("a default and per-system overrides, wall-clock seconds; the shipped file has them; no propagation, no times")
    func parsed() throws {
        let parsed = try DefinitionLoader.parseConsent(Self.yaml, file: "consent.yaml")
        #expect(parsed.propagation == ConsentPropagationTimes(dueWithinSeconds: 4 * 3_600, systems: ["billing": 86_400]))
        #expect(parsed.propagation?.seconds(for: "crm") == Int64(4 * 3_600))
        #expect(parsed.propagation?.seconds(for: "billing") == Int64(86_400))
        #expect(parsed.purposes["marketing"]?.downstream == ["crm", "marketing-automation"])
        let withoutPropagation = String(Self.yaml[..<Self.yaml.range(of: "propagation:")!.lowerBound])
        #expect(try DefinitionLoader.parseConsent(withoutPropagation, file: "consent.yaml").propagation == nil)
        let shipped = try DefinitionLoader.load(directory: configDirectory)
        #expect(shipped.consentPropagation == ConsentPropagationTimes(dueWithinSeconds: 4 * 3_600, systems: ["billing": 86_400]))
    }

    @Test("refused with file, line, path and problem: a system no purpose lists, a bad or zero duration, a missing default, an unknown key")
    func refused() throws {
        let cases: [(String, String, String, String, Int)] = [
            ("    billing: 1d", "    biling: 1d", "propagation.systems.biling", "system 'biling' is downstream of no purpose", 11),
            ("    billing: 1d", "    billing: soon", "propagation.systems.billing", "'soon' is not a duration", 11),
            ("  due_within: 4h", "  due_within: 0h", "propagation.due_within", "is zero", 9),
            ("  due_within: 4h\n", "", "propagation.due_within", "'due_within' is missing", 9),
            ("  due_within: 4h", "  due_in: 4h", "propagation.due_in", "unknown key 'due_in'", 9),
        ]
        for (original, replacement, path, problem, line) in cases {
            let yaml = Self.yaml.replacingOccurrences(of: original, with: replacement)
            do {
                _ = try DefinitionLoader.parseConsent(yaml, file: "consent.yaml")
                Issue.record("accepted \(replacement)")
            } catch let error as DefinitionError {
                #expect(error.file == "consent.yaml" && error.path == path, "\(error)")
                #expect(error.message.contains(problem), "\(error)")
                #expect(error.line == line, "\(error)")
            }
        }
    }
}
