/// A consent question as operators configure it in `config/consent.yaml`: a purpose, the channels
/// it is asked for, and the downstream systems (billing, marketing automation, the support desk, …)
/// that must apply every answer given to it.
public struct ConsentPurpose: Sendable, Equatable {
    public var name: String
    public var channels: [String]
    public var downstream: [String]

    public init(name: String, channels: [String], downstream: [String]) {
        self.name = name
        self.channels = channels
        self.downstream = downstream
    }
}

/// How long a downstream system has to apply a consent decision before the process manager records
/// it overdue (`ConsentPropagationOverdue`): `consent.yaml`'s `propagation`, a default and
/// per-system overrides. Wall-clock time: the systems are machines, which keep no office hours.
public struct ConsentPropagationTimes: Sendable, Equatable {
    public var dueWithinSeconds: Int64
    /// Systems whose time differs from the default.
    public var systems: [String: Int64]

    public init(dueWithinSeconds: Int64, systems: [String: Int64] = [:]) {
        self.dueWithinSeconds = dueWithinSeconds
        self.systems = systems
    }

    /// The seconds `system` has to apply a decision.
    public func seconds(for system: String) -> Int64 { systems[system] ?? dueWithinSeconds }
}

/// Everything `consent.yaml` says.
public struct ConsentConfiguration: Sendable, Equatable {
    public var purposes: [String: ConsentPurpose]
    public var propagation: ConsentPropagationTimes?
}

extension DefinitionLoader {
    /// Parses `consent.yaml`'s purposes; see `parseConsent(_:file:)`.
    public static func parseConsentPurposes(_ yaml: String, file: String) throws -> [String: ConsentPurpose] {
        try parseConsent(yaml, file: file).purposes
    }

    /// Parses `consent.yaml`: `purposes:` mapping each purpose to its `channels` and `downstream`
    /// systems, and the optional `propagation:` with a default `due_within` and `systems:` mapping
    /// a downstream system to its own time. A system no purpose lists is refused (a typo would
    /// otherwise leave the real system on the default).
    public static func parseConsent(_ yaml: String, file: String) throws -> ConsentConfiguration {
        let document = try YAMLValue.parse(yaml, file: file)
        let root = try document.mapping(allowed: ["purposes", "propagation"])
        var purposes: [String: ConsentPurpose] = [:]
        for (name, value) in try root.required("purposes", in: document).namedEntries() {
            let fields = try value.mapping(allowed: ["channels", "downstream"])
            let channelsValue = try fields.required("channels", in: value)
            let channels = try channelsValue.names()
            guard !channels.isEmpty else { throw channelsValue.fail("a purpose is asked over at least one channel") }
            let downstream = try fields["downstream"]?.names() ?? []
            purposes[name] = ConsentPurpose(name: name, channels: channels, downstream: downstream)
        }
        guard let propagationValue = root["propagation"] else { return ConsentConfiguration(purposes: purposes, propagation: nil) }
        let propagation = try propagationValue.mapping(allowed: ["due_within", "systems"])
        let dueWithin = try propagation.required("due_within", in: propagationValue).duration().seconds
        let known = Set(purposes.values.flatMap(\.downstream))
        var systems: [String: Int64] = [:]
        if let systemsValue = propagation["systems"] {
            for (system, value) in try systemsValue.namedEntries() {
                guard known.contains(system) else {
                    throw value.fail(
                        "system '\(system)' is downstream of no purpose; the purposes list \(known.isEmpty ? "none" : known.sorted().joined(separator: ", "))")
                }
                systems[system] = try value.duration().seconds
            }
        }
        return ConsentConfiguration(purposes: purposes, propagation: ConsentPropagationTimes(dueWithinSeconds: dueWithin, systems: systems))
    }
}
