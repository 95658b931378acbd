import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore

extension DefinitionLibrary {
    /// The definitions for a batch: every version its journeys start under is known, learnt from
    /// the log as the batch's transaction sees it when the library did not know it yet (a client
    /// records a version before the first journey under it). A version known nowhere stops the
    /// projection at that journey's start, naming both, instead of projecting it without its
    /// dwell limits and goals.
    func catalog(knowing starts: [(recorded: RecordedEvent, started: JourneyEvent.Started)], in transaction: Transaction) async throws
        -> JourneyCatalog
    {
        let catalog = self.catalog
        guard starts.contains(where: { catalog.definition(version: $0.started.definitionVersion) == nil }) else { return catalog }
        try await refresh(in: transaction)
        let refreshed = self.catalog
        if let missing = starts.first(where: { refreshed.definition(version: $0.started.definitionVersion) == nil }) {
            throw ProjectionError(
                missing.recorded,
                "journey \(missing.started.journeyId): \(unknown(journeyType: missing.started.journeyType, version: missing.started.definitionVersion).message)"
            )
        }
        return refreshed
    }
}
