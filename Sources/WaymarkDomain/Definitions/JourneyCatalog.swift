/// The journey definitions a client decides under: the current one of each journey type, and
/// every version it was given, so a journey keeps being decided under the version it started with.
public struct JourneyCatalog: Sendable {
    private var current: [String: JourneyDefinition]
    private var byVersion: [String: JourneyDefinition]
    /// The business calendars goals and handoffs count in, by name.
    public let calendars: [String: BusinessCalendar]
    /// The consent questions asked, by purpose, and the systems that must apply the answers.
    public let consentPurposes: [String: ConsentPurpose]
    /// How long each downstream system has to apply a consent decision; nil: not configured.
    public let consentPropagation: ConsentPropagationTimes?

    public init(_ configuration: JourneyConfiguration, earlierVersions: [JourneyDefinition] = []) {
        current = configuration.definitions
        calendars = configuration.calendars
        consentPurposes = configuration.consentPurposes
        consentPropagation = configuration.consentPropagation
        byVersion = [:]
        for definition in earlierVersions + Array(configuration.definitions.values) { byVersion[definition.version.description] = definition }
    }

    /// The definition a new journey of `journeyType` starts under.
    public func current(_ journeyType: String) -> JourneyDefinition? { current[journeyType] }

    /// The tiers the current definitions serve: those customers can have.
    public var tiers: Set<String> { Set(current.values.flatMap(\.tiers)) }

    /// The catalog with `definitions` known as well (versions recorded in the log); the current
    /// definitions stay those of the configuration.
    public func adding(_ definitions: [JourneyDefinition]) -> JourneyCatalog {
        var copy = self
        for definition in definitions where copy.byVersion[definition.version.description] == nil {
            copy.byVersion[definition.version.description] = definition
        }
        return copy
    }

    /// Every version known, current and earlier.
    public var versions: [JourneyDefinition] { Array(byVersion.values) }

    /// The definition recorded as `version` on a journey.
    public func definition(version: String) -> JourneyDefinition? { byVersion[version] }
}
