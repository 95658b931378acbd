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

extension DefinitionLoader {
    /// Parses `consent.yaml`: `purposes:` mapping each purpose to its `channels` and `downstream`
    /// systems.
    public static func parseConsentPurposes(_ yaml: String, file: String) throws -> [String: ConsentPurpose] {
        let document = try YAMLValue.parse(yaml, file: file)
        let root = try document.mapping(allowed: ["purposes"])
        var purposes: [String: ConsentPurpose] = [:]
        for (name, value) in try root.required("purposes", in: document).namedEntries() {
            let fields = try value.mapping(allowed: ["channels", "downstream"])
            let channelsValue = try fields.required("channels", in: value)
            let channels = try channelsValue.names()
            guard !channels.isEmpty else { throw channelsValue.fail("a purpose is asked over at least one channel") }
            let downstream = try fields["downstream"]?.names() ?? []
            purposes[name] = ConsentPurpose(name: name, channels: channels, downstream: downstream)
        }
        return purposes
    }
}
