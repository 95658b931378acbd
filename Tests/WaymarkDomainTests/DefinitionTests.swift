import Foundation
import Testing
import WaymarkDomain

/// The repository's `config/` folder.
let configDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config")

let calendars = """
    calendars:
      office:
        time_zone: Europe/Berlin
        hours:
          monday: "09:00-17:00"
          friday: ["09:00-12:00", "13:00-15:00"]
        holidays: ["2026-12-25"]
    """

/// A small valid definition; `replacing` swaps one piece of it for a broken one.
func journey(replacing original: String = "", with replacement: String = "") -> String {
    let valid = """
        journey_type: small
        version: "1"
        tiers: [gold, silver]
        stages:
          - id: intake
            department: sales
            max_dwell: 2d
            milestones: [called]
          - id: setup
            department: onboarding
            max_dwell: 36h
        transitions:
          - from: intake
            to: setup
            handoff:
              acceptance_criteria: [signed-contract]
              ola: 4h
              calendar: office
        sla:
          - name: time-to-setup
            tiers: [gold]
            start: journey-started
            stop: stage:setup
            target: 3d
            calendar: office
            escalation:
              - {after: 1d, role: lead, action: notify}
              - {after: 2d, role: head, action: raise-priority}
          - name: time-to-setup
            default: true
            start: journey-started
            stop: stage:setup
            target: 5d
        """
    return original.isEmpty ? valid : valid.replacingOccurrences(of: original, with: replacement)
}

func parse(_ yaml: String) throws -> JourneyDefinition {
    try DefinitionLoader.parseJourney(yaml, file: "small.yaml", calendars: try DefinitionLoader.parseCalendars(calendars, file: "calendars.yaml"))
}

@Suite("Journey definitions")
struct DefinitionTests {
    @Test("the shipped configuration loads: four journey types and the demo's, their calendars, handoffs and goals")
    func shippedConfiguration() throws {
        let configuration = try DefinitionLoader.load(directory: configDirectory)
        #expect(Set(configuration.definitions.keys) == ["new-business", "order-to-cash", "support-case", "renewal", "express-repair"])
        // The demo's type runs around the clock in seconds and minutes.
        let express = try #require(configuration.definitions["express-repair"])
        #expect(express.stages.first?.maxDwell == BusinessDuration(parsing: "40s"))
        #expect(express.slaGoal(forTier: "strategic")?.target == BusinessDuration(parsing: "30s"))
        #expect(express.slaGoal(forTier: "strategic")?.calendar == nil)
        #expect(Set(configuration.calendars.keys) == ["emea-business", "us-business", "support-extended"])
        let newBusiness = try #require(configuration.definitions["new-business"])
        #expect(newBusiness.stages.first?.id == "qualification")
        let handoff = try #require(newBusiness.transition(from: "contract", to: "kickoff")?.handoff)
        #expect(handoff.fromDepartment == "sales" && handoff.toDepartment == "onboarding")
        #expect(handoff.acceptanceCriteria.contains("signed-contract"))
        #expect(newBusiness.transition(from: "qualification", to: "proposal")?.handoff == nil, "same department: no handoff")
        #expect(newBusiness.slaGoal(forTier: "strategic")?.target == BusinessDuration(parsing: "15d"))
        #expect(newBusiness.slaGoal(forTier: "standard")?.isDefault == true)
        #expect(newBusiness.version.name == "2026.11" && newBusiness.version.contentHash.count == 16)
        #expect(configuration.calendars["support-extended"]?.minutesPerWeek == 5 * (5 * 60 + 9 * 60 + 30) + 6 * 60)
    }

    @Test("a definition's version carries a hash of its content: any change makes a new version")
    func versionFollowsContent() throws {
        let original = try parse(journey())
        let edited = try parse(journey(replacing: "target: 5d", with: "target: 6d"))
        #expect(original.version.name == edited.version.name)
        #expect(original.version != edited.version)
        #expect(try parse(journey()).version == original.version, "the same content, the same version")
        #expect(original.version.description.hasPrefix("1+"))
    }

    @Test("durations: units d, h, m, s; anything else is refused")
    func durations() {
        #expect(BusinessDuration(parsing: "1d12h")?.seconds == 129_600)
        #expect(BusinessDuration(parsing: "90m")?.description == "1h30m")
        for bad in ["", "5", "d", "5x", "1.5h", "-2h", "5 d"] { #expect(BusinessDuration(parsing: bad) == nil, "\(bad)") }
    }

    /// Each malformed file is refused with the file, the path inside it and the problem.
    @Test(
        "malformed definitions are refused naming the file, the path and the problem",
        arguments: [
            ("to: setup\n    handoff", "to: billing\n    handoff", "transitions[0].to", "unknown stage 'billing'"),
            ("  - id: setup", "  - id: intake", "stages[1].id", "stage 'intake' is defined twice"),
            ("max_dwell: 36h", "max_dwell: -36h", "stages[1].max_dwell", "negative"),
            ("ola: 4h\n      calendar: office", "ola: 4h\n      calendar: moon-time", "transitions[0].handoff.calendar", "unknown calendar 'moon-time'"),
            ("tiers: [gold]\n    start", "tiers: [platinum]\n    start", "sla[0].tiers[0]", "unknown tier 'platinum'"),
            ("action: notify", "action: shout", "sla[0].escalation[0].action", "'shout' is not an escalation action"),
            ("after: 2d, role: head", "after: 12h, role: head", "sla[0].escalation[1].after", "must come later"),
            ("stop: stage:setup\n    target: 3d", "stop: stage:nowhere\n    target: 3d", "sla[0].stop", "unknown stage 'nowhere'"),
            ("    department: onboarding", "    departmant: onboarding", "stages[1].departmant", "unknown key 'departmant'"),
            ("  - name: time-to-setup\n    default: true", "  - name: time-to-setup\n    tiers: []", "sla[1]", "a goal names its tiers"),
        ])
    func malformed(original: String, replacement: String, path: String, problem: String) throws {
        let yaml = journey(replacing: original, with: replacement)
        #expect(yaml != journey(), "the test changed the file")
        do {
            _ = try parse(yaml)
            Issue.record("accepted: \(replacement)")
        } catch let error as DefinitionError {
            #expect(error.file == "small.yaml")
            #expect(error.path == path, "\(error)")
            #expect(error.message.contains(problem), "\(error)")
            #expect(error.line != nil)
            #expect(error.description.contains("small.yaml") && error.description.contains(path))
        }
    }

    @Test("a YAML syntax error is refused with the file and the line")
    func syntaxError() throws {
        do {
            _ = try parse(journey(replacing: "tiers: [gold, silver]", with: "tiers: [gold, silver"))
            Issue.record("accepted broken YAML")
        } catch let error as DefinitionError {
            #expect(error.message.hasPrefix("YAML syntax error"), "\(error)")
            #expect(error.line != nil)
            #expect(error.file == "small.yaml")
        }
    }

    @Test("calendars: time zones, weekdays, opening hours and holidays are checked")
    func malformedCalendars() throws {
        let cases: [(String, String, String)] = [
            ("Europe/Berlin", "Mars/Olympus", "is not a time zone"),
            ("monday:", "moonday:", "'moonday' is not a weekday"),
            ("\"09:00-17:00\"", "\"17:00-09:00\"", "closes before it opens"),
            ("2026-12-25", "2026-02-30", "is not a date"),
        ]
        for (original, replacement, problem) in cases {
            do {
                _ = try DefinitionLoader.parseCalendars(calendars.replacingOccurrences(of: original, with: replacement), file: "calendars.yaml")
                Issue.record("accepted \(replacement)")
            } catch let error as DefinitionError {
                #expect(error.message.contains(problem), "\(error)")
                #expect(error.path.hasPrefix("calendars.office"), "\(error)")
            }
        }
    }

    @Test("consent purposes: channels listed once, at least one; unknown keys refused; the shipped file loads")
    func consentPurposes() throws {
        let yaml = "purposes:\n  marketing:\n    channels: [email, sms]\n    downstream: [crm]\n"
        let parsed = try DefinitionLoader.parseConsentPurposes(yaml, file: "consent.yaml")
        #expect(parsed["marketing"] == ConsentPurpose(name: "marketing", channels: ["email", "sms"], downstream: ["crm"]))
        #expect(shipped.consentPurposes["marketing"]?.downstream == ["marketing-automation", "crm"])
        let cases: [(String, String, String)] = [
            ("[email, sms]", "[email, email]", "'email' is listed twice"),
            ("[email, sms]", "[]", "at least one channel"),
            ("downstream:", "downstrem:", "downstrem"),
        ]
        for (original, replacement, problem) in cases {
            do {
                _ = try DefinitionLoader.parseConsentPurposes(yaml.replacingOccurrences(of: original, with: replacement), file: "consent.yaml")
                Issue.record("accepted \(replacement)")
            } catch let error as DefinitionError {
                #expect(error.message.contains(problem), "\(error)")
                #expect(error.file == "consent.yaml" && error.path.hasPrefix("purposes.marketing"), "\(error)")
            }
        }
    }

    @Test("loading a folder refuses a second definition of one journey type, naming both files")
    func duplicateJourneyType() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wm-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("journeys"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try calendars.write(to: folder.appendingPathComponent("calendars.yaml"), atomically: true, encoding: .utf8)
        try journey().write(to: folder.appendingPathComponent("journeys/a.yaml"), atomically: true, encoding: .utf8)
        try journey(replacing: "version: \"1\"", with: "version: \"2\"").write(
            to: folder.appendingPathComponent("journeys/b.yaml"), atomically: true, encoding: .utf8)
        do {
            _ = try DefinitionLoader.load(directory: folder)
            Issue.record("accepted two definitions of one journey type")
        } catch let error as DefinitionError {
            #expect(error.file.hasSuffix("b.yaml") && error.message.contains("a.yaml"), "\(error)")
        }
    }
}
