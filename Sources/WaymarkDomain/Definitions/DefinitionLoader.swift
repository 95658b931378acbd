import Crypto
import Foundation

/// Every journey definition and business calendar of a configuration folder, checked.
public struct JourneyConfiguration: Sendable {
    public var calendars: [String: BusinessCalendar]
    /// The current definition of each journey type.
    public var definitions: [String: JourneyDefinition]
    /// The consent questions and the systems that apply their answers (`consent.yaml`, optional).
    public var consentPurposes: [String: ConsentPurpose]
    /// How long each downstream system has to apply a consent decision (`consent.yaml`'s
    /// `propagation`); nil when not configured: no propagation deadlines.
    public var consentPropagation: ConsentPropagationTimes?

    public init(
        calendars: [String: BusinessCalendar], definitions: [String: JourneyDefinition], consentPurposes: [String: ConsentPurpose] = [:],
        consentPropagation: ConsentPropagationTimes? = nil
    ) {
        self.calendars = calendars
        self.definitions = definitions
        self.consentPurposes = consentPurposes
        self.consentPropagation = consentPropagation
    }
}

/// Reads `calendars.yaml`, `journeys/*.yaml` and `consent.yaml` from a configuration folder (`config/`), and
/// refuses a malformed file with a `DefinitionError` naming the file, the path inside it and the
/// problem.
public enum DefinitionLoader {
    public static func load(directory: URL) throws -> JourneyConfiguration {
        let calendarsFile = directory.appendingPathComponent("calendars.yaml")
        let calendars = try parseCalendars(try read(calendarsFile), file: calendarsFile.path)
        let journeysFolder = directory.appendingPathComponent("journeys")
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: journeysFolder, includingPropertiesForKeys: nil)
                .filter { ["yaml", "yml"].contains($0.pathExtension) }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        } catch {
            throw DefinitionError(file: journeysFolder.path, path: "", line: nil, message: "cannot list the journey definitions: \(error.localizedDescription)")
        }
        var definitions: [String: JourneyDefinition] = [:]
        var sources: [String: String] = [:]
        for file in files {
            let definition = try parseJourney(try read(file), file: file.path, calendars: calendars)
            if let other = sources[definition.journeyType] {
                throw DefinitionError(
                    file: file.path, path: "journey_type", line: nil, message: "journey type '\(definition.journeyType)' is already defined in \(other)")
            }
            definitions[definition.journeyType] = definition
            sources[definition.journeyType] = file.path
        }
        let consentFile = directory.appendingPathComponent("consent.yaml")
        let consent =
            FileManager.default.fileExists(atPath: consentFile.path)
            ? try parseConsent(try read(consentFile), file: consentFile.path) : ConsentConfiguration(purposes: [:], propagation: nil)
        return JourneyConfiguration(
            calendars: calendars, definitions: definitions, consentPurposes: consent.purposes, consentPropagation: consent.propagation)
    }

    /// The text of a configuration file, or a `DefinitionError` naming it when it cannot be read.
    public static func read(_ file: URL) throws -> String {
        do {
            return try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw DefinitionError(file: file.path, path: "", line: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
    }

    /// The hash part of a definition's version: the first 16 hex digits of SHA-256 over the text.
    static func contentHash(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Calendars

    public static func parseCalendars(_ yaml: String, file: String) throws -> [String: BusinessCalendar] {
        let root = try YAMLValue.parse(yaml, file: file).mapping(allowed: ["calendars"])
        var calendars: [String: BusinessCalendar] = [:]
        for (name, value) in try root.required("calendars", in: try YAMLValue.parse(yaml, file: file)).namedEntries() {
            let fields = try value.mapping(allowed: ["time_zone", "hours", "holidays"])
            let zoneValue = try fields.required("time_zone", in: value)
            let zone = try zoneValue.string()
            guard TimeZone(identifier: zone) != nil else { throw zoneValue.fail("'\(zone)' is not a time zone (use an IANA name such as Europe/Berlin)") }
            var weekly: [Int: [BusinessCalendar.OpeningHours]] = [:]
            let hours = try fields.required("hours", in: value)
            for (day, ranges) in try hours.namedEntries() {
                guard let weekday = BusinessCalendar.weekdays.firstIndex(of: day.lowercased()) else {
                    throw ranges.fail("'\(day)' is not a weekday; use monday … sunday")
                }
                let list = ranges.node.sequence != nil ? try ranges.sequence() : [ranges]
                weekly[weekday + 1] = try list.map(openingHours)
            }
            guard !weekly.isEmpty else { throw hours.fail("a calendar needs opening hours on at least one day") }
            let holidays = try fields["holidays"]?.sequence().map(holiday) ?? []
            calendars[name] = BusinessCalendar(name: name, timeZone: zone, weeklyHours: weekly, holidays: holidays)
        }
        return calendars
    }

    /// A holiday: a rule as text (`12-25`, `easter-2`, `last monday of may`, `2026-12-24`), or
    /// `{date: <rule>, name: <text>, observed: nearest-weekday}`.
    private static func holiday(_ value: YAMLValue) throws -> Holiday {
        var ruleValue = value
        var name: String?
        var observed = false
        if value.node.mapping != nil {
            let fields = try value.mapping(allowed: ["date", "name", "observed"])
            ruleValue = try fields.required("date", in: value)
            name = try fields["name"]?.string()
            if let observedValue = fields["observed"] {
                let text = try observedValue.string()
                guard text == "nearest-weekday" else {
                    throw observedValue.fail("'\(text)' is not an observed rule; use nearest-weekday (Saturday to Friday, Sunday to Monday)")
                }
                observed = true
            }
        }
        let text = try ruleValue.string()
        switch Holiday.parse(text) {
        case .success(let rule):
            if observed, case .once = rule { throw value.fail("'\(text)' is one date: move it yourself rather than with observed") }
            return Holiday(rule: rule, observedOnNearestWeekday: observed, name: name, text: text)
        case .failure(let problem):
            throw ruleValue.fail(problem.message)
        }
    }

    private static func openingHours(_ value: YAMLValue) throws -> BusinessCalendar.OpeningHours {
        let text = try value.string()
        let parts = text.split(separator: "-").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let opens = minutes(parts[0]), let closes = minutes(parts[1]) else {
            throw value.fail("'\(text)' is not opening hours such as 09:00-17:30")
        }
        guard opens < closes else { throw value.fail("'\(text)' closes before it opens") }
        return BusinessCalendar.OpeningHours(opens: opens, closes: closes)
    }

    private static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0...24).contains(hour), (0..<60).contains(minute),
            hour * 60 + minute <= 24 * 60
        else { return nil }
        return hour * 60 + minute
    }

    // MARK: Journeys

    public static func parseJourney(_ yaml: String, file: String, calendars: [String: BusinessCalendar]) throws -> JourneyDefinition {
        let root = try YAMLValue.parse(yaml, file: file)
        let fields = try root.mapping(allowed: ["journey_type", "version", "description", "tiers", "stages", "transitions", "sla"])
        let journeyType = try fields.required("journey_type", in: root).name()
        let version = DefinitionVersion(name: try fields.required("version", in: root).string(), contentHash: contentHash(yaml))
        let tiers = try fields.required("tiers", in: root).names()
        guard !tiers.isEmpty else { throw try fields.required("tiers", in: root).fail("list at least one customer tier") }

        let stageValues = try fields.required("stages", in: root).sequence()
        guard !stageValues.isEmpty else { throw try fields.required("stages", in: root).fail("a journey needs at least one stage") }
        var stages: [JourneyDefinition.Stage] = []
        for value in stageValues {
            let stage = try value.mapping(allowed: ["id", "department", "max_dwell", "milestones"])
            let idValue = try stage.required("id", in: value)
            let id = try idValue.name()
            if stages.contains(where: { $0.id == id }) { throw idValue.fail("stage '\(id)' is defined twice") }
            // A milestone is a name, or {id, compensation} when reaching it leaves something to undo
            // if the journey is cancelled.
            var milestones: [String] = []
            var compensations: [String: String] = [:]
            for entry in try stage["milestones"]?.sequence() ?? [] {
                let milestone: String
                if entry.node.mapping != nil {
                    let fields = try entry.mapping(allowed: ["id", "compensation"])
                    milestone = try fields.required("id", in: entry).name()
                    compensations[milestone] = try fields.required("compensation", in: entry).name()
                } else {
                    milestone = try entry.name()
                }
                if milestones.contains(milestone) { throw entry.fail("'\(milestone)' is listed twice") }
                milestones.append(milestone)
            }
            stages.append(
                JourneyDefinition.Stage(
                    id: id, department: try stage.required("department", in: value).name(), maxDwell: try stage["max_dwell"]?.duration(),
                    milestones: milestones, compensations: compensations))
        }
        let allMilestones = stages.flatMap(\.milestones)
        if let repeated = allMilestones.enumerated().first(where: { index, name in allMilestones[..<index].contains(name) }) {
            throw root.fail("milestone '\(repeated.element)' belongs to more than one stage")
        }

        func checkCalendar(_ value: YAMLValue?) throws -> String? {
            guard let value else { return nil }
            let name = try value.string()
            guard calendars[name] != nil else {
                throw value.fail("unknown calendar '\(name)'; calendars.yaml defines \(calendars.keys.sorted().joined(separator: ", "))")
            }
            return name
        }

        var transitions: [JourneyDefinition.Transition] = []
        for value in try fields["transitions"]?.sequence() ?? [] {
            let transition = try value.mapping(allowed: ["from", "to", "handoff"])
            var ends: [JourneyDefinition.Stage] = []
            for key in ["from", "to"] {
                let end = try transition.required(key, in: value)
                let id = try end.name()
                guard let stage = stages.first(where: { $0.id == id }) else {
                    throw end.fail("unknown stage '\(id)'; the stages are \(stages.map(\.id).joined(separator: ", "))")
                }
                ends.append(stage)
            }
            let (from, to) = (ends[0], ends[1])
            if from.id == to.id { throw value.fail("a transition from stage '\(from.id)' to itself") }
            if transitions.contains(where: { $0.from == from.id && $0.to == to.id }) {
                throw value.fail("the transition from '\(from.id)' to '\(to.id)' is listed twice")
            }
            var handoff: JourneyDefinition.Handoff?
            if from.department != to.department {
                handoff = JourneyDefinition.Handoff(
                    fromDepartment: from.department, toDepartment: to.department, acceptanceCriteria: [], ola: nil, calendar: nil)
            }
            if let handoffValue = transition["handoff"] {
                guard handoff != nil else {
                    throw handoffValue.fail("stages '\(from.id)' and '\(to.id)' both belong to \(from.department): there is no handoff between departments")
                }
                let details = try handoffValue.mapping(allowed: ["acceptance_criteria", "ola", "calendar"])
                handoff?.acceptanceCriteria = try details["acceptance_criteria"]?.names() ?? []
                handoff?.ola = try details["ola"]?.duration()
                handoff?.calendar = try checkCalendar(details["calendar"])
            }
            transitions.append(JourneyDefinition.Transition(from: from.id, to: to.id, handoff: handoff))
        }

        func point(_ value: YAMLValue) throws -> JourneyDefinition.SLAPoint {
            let text = try value.string()
            switch text {
            case "journey-started": return .journeyStarted
            case "journey-completed": return .journeyCompleted
            default:
                guard text.hasPrefix("stage:") else { throw value.fail("'\(text)' is not a clock point: journey-started, journey-completed or stage:<id>") }
                let id = String(text.dropFirst("stage:".count))
                guard stages.contains(where: { $0.id == id }) else { throw value.fail("unknown stage '\(id)' in '\(text)'") }
                return .stageEntered(id)
            }
        }

        var goals: [JourneyDefinition.SLAGoal] = []
        for value in try fields["sla"]?.sequence() ?? [] {
            let goal = try value.mapping(allowed: [
                "name", "tiers", "default", "start", "stop", "target", "calendar", "pause_while_waiting_on_customer", "escalation",
            ])
            let isDefault = try goal["default"]?.bool() ?? false
            var goalTiers: [String] = []
            if let tiersValue = goal["tiers"] {
                goalTiers = try tiersValue.names()
                for (index, tier) in goalTiers.enumerated() where !tiers.contains(tier) {
                    throw try tiersValue.sequence()[index].fail("unknown tier '\(tier)'; this journey type serves \(tiers.joined(separator: ", "))")
                }
            }
            guard isDefault == goalTiers.isEmpty else {
                throw value.fail(isDefault ? "a default goal lists no tiers" : "a goal names its tiers, or says default: true")
            }
            let goalName = try goal.required("name", in: value).name()
            if isDefault, goals.contains(where: { $0.isDefault && $0.name == goalName }) {
                throw value.fail("there is already a default goal named '\(goalName)'")
            }
            let targetValue = try goal.required("target", in: value)
            let target = try targetValue.duration()
            guard target.seconds > 0 else { throw targetValue.fail("a goal's target must be longer than zero") }
            var ladder: [JourneyDefinition.EscalationLevel] = []
            for levelValue in try goal["escalation"]?.sequence() ?? [] {
                let level = try levelValue.mapping(allowed: ["after", "role", "action"])
                let actionValue = try level.required("action", in: levelValue)
                let actionText = try actionValue.string()
                guard let action = JourneyDefinition.EscalationAction(rawValue: actionText) else {
                    throw actionValue.fail(
                        "'\(actionText)' is not an escalation action; use \(JourneyDefinition.EscalationAction.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                let afterValue = try level.required("after", in: levelValue)
                let after = try afterValue.duration()
                if let previous = ladder.last, after <= previous.after {
                    throw afterValue.fail("escalation levels must come later one after another: \(after) is not after \(previous.after)")
                }
                ladder.append(JourneyDefinition.EscalationLevel(after: after, role: try level.required("role", in: levelValue).name(), action: action))
            }
            goals.append(
                JourneyDefinition.SLAGoal(
                    name: goalName, tiers: goalTiers, start: try point(goal.required("start", in: value)),
                    stop: try point(goal.required("stop", in: value)), target: target, calendar: try checkCalendar(goal["calendar"]),
                    pausesWhileWaitingOnCustomer: try goal["pause_while_waiting_on_customer"]?.bool() ?? true, escalation: ladder))
        }
        var definition = JourneyDefinition(
            journeyType: journeyType, version: version, description: try fields["description"]?.string() ?? "", stages: stages, transitions: transitions,
            slaGoals: goals, tiers: tiers)
        definition.source = yaml
        return definition
    }
}
