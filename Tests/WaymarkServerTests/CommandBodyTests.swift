import Foundation
import NIOHTTP1
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkErrors
import WaymarkEventStore
import WaymarkServer
import WaymarkSimulation
import WaymarkTesting

// About 7 s alone; its 1,000 requests one after another wait their turn for the cores in a full run.
@Suite("HTTP API: a journey command over HTTP writes what it writes in process", .scaledTimeLimit(minutes: 6))
struct CommandBodyTests {
    @Test("every simulated journey's commands, sent as JourneyCommandBody over HTTP and in process to another schema: the same events, ids and outcomes")
    func sameAsInProcess() async throws {
        try await ServerFixture.run { fixture in
            let twin = try await TestDatabase.freshStore()
            let inProcess = WaymarkClient(store: twin, catalog: fixture.client.catalog, logger: TestDatabase.quietLogger)
            let options = SimulationOptions(journeys: 40, seed: 20_261_207, until: Date(timeIntervalSince1970: 1_790_000_000))
            let scripts = Simulator.journeyScripts(options, catalog: fixture.client.catalog)
            var kinds = Set<String>()
            for script in scripts {
                for scripted in script.commands {
                    let context = CommandContext(
                        commandId: scripted.commandId, actor: scripted.actor, sourceSystem: scripted.sourceSystem, occurredAt: scripted.occurredAt)
                    let body = JourneyCommandBody.json(scripted.command, context: context)
                    kinds.insert(String(body.split(separator: "\"type\":\"")[1].prefix { $0 != "\"" }))
                    let reply = try await fixture.request(.POST, "/v1/journeys/\(script.journeyId)/commands", key: fixture.key(.service), json: body)
                    var expected: String? = nil
                    do {
                        _ = try await inProcess.send(scripted.command, to: script.journeyId, context: context)
                    } catch {
                        expected = ErrorReport(error).code
                    }
                    #expect(reply.code == expected, "\(script.journeyId) \(body): \(reply.text)")
                }
            }
            #expect(kinds.count >= 8, "the simulator's commands cover few types: \(kinds.sorted())")
            // Stream by stream: the log's order is the commit order, which differs between the two
            // runs, and reads of the log wait behind other tests' open transactions.
            var viaHTTP: [RecordedEvent] = []
            var direct: [RecordedEvent] = []
            for script in scripts {
                viaHTTP += try await fixture.store.readStream("journey-\(script.journeyId)", limit: 1_000).events
                direct += try await twin.readStream("journey-\(script.journeyId)", limit: 1_000).events
            }
            #expect(viaHTTP.count == direct.count && !direct.isEmpty, "\(viaHTTP.count) events over HTTP, \(direct.count) in process")
            for (http, local) in zip(viaHTTP, direct) {
                #expect(http.id == local.id && http.streamName == local.streamName && http.type == local.type && http.data == local.data)
                #expect(http.metadata.actor == local.metadata.actor && http.metadata.sourceSystem == local.metadata.sourceSystem)
                #expect(http.metadata.occurredAt == local.metadata.occurredAt && http.metadata.causationId == local.metadata.causationId)
            }
            await twin.close()
        }
    }
}
