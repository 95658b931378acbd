import Foundation
import Logging
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkNotifications

extension RuleVocabulary {
    /// What rules may name, from the configuration folder's other files: the templates
    /// (`templates/templates.yaml`), the roles routed in `process-manager.yaml`, the consent
    /// purposes and the journey definitions.
    public init(templates: NotificationTemplates, settings: ProcessManagerSettings, catalog: JourneyCatalog) {
        self.init(
            templates: templates.declarations.mapValues { Template(customerFacing: $0.audience == .customer, variables: $0.variables) },
            roles: Set(settings.routing.keys), purposes: catalog.consentPurposes.mapValues { Set($0.channels) }, catalog: catalog)
    }
}

extension RuleSet {
    /// `rules.yaml` from `directory`, checked against the rest of the configuration there.
    public static func load(directory: URL, templates: NotificationTemplates, settings: ProcessManagerSettings, catalog: JourneyCatalog) throws -> RuleSet {
        try load(directory: directory, vocabulary: RuleVocabulary(templates: templates, settings: settings, catalog: catalog))
    }
}

extension ReactionEngine {
    /// An engine with the process manager's settings: its stale horizon and message locale.
    public static func configured(
        store: EventStore, rules: RuleSet, definitions: DefinitionLibrary, settings: ProcessManagerSettings, instance: String?, logger: Logger
    ) throws -> ReactionEngine {
        try ReactionEngine(
            store: store, rules: rules, definitions: definitions, locale: settings.notificationLocale, staleAfterSeconds: settings.staleAfterSeconds,
            instance: instance, logger: logger)
    }
}
