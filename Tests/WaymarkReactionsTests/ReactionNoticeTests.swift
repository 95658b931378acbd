import Foundation
import Testing
import WaymarkDefinitions
import WaymarkDomain
import WaymarkEventStore
import WaymarkTesting

@testable import WaymarkReactions

@Suite("Rules engine: what it tells the log")
struct ReactionNoticeTests {
    @Test("a rule that cannot judge an event says so once, for the batch that commits, not for an attempt that rolled back")
    func noticeOncePerCommittedBatch() async throws {
        let fixture = try await ReactionFixture()
        defer { Task { await fixture.store.close() } }
        // A delay for a journey that never started: the rule cannot judge it.
        let trigger = try await fixture.delay("o-missing", order: "SO-9", hours: 72)
        let event = try #require(try await fixture.store.readStream("shipment-SO-9").events.first)
        #expect(event.id == trigger)
        let firing = RuleFiring(
            rules: fixture.shipped.rules, definitions: DefinitionLibrary(fixture.shipped.catalog), codec: .standard, locale: "en",
            staleAfterSeconds: fixture.shipped.settings.staleAfterSeconds, instance: "rx-test", time: .system)
        let logs = CapturedLogs()
        struct Abandoned: Error {}
        // An attempt that rolls back (as one refused by the order rule does) tells nothing.
        await #expect(throws: Abandoned.self) {
            try await fixture.store.transaction { transaction in
                try await ReactionEngine.handle([event], rules: fixture.shipped.rules, firing: firing, logger: logs.logger(), in: transaction)
                throw Abandoned()
            }
        }
        #expect(logs.all.filter { $0.contains("a rule could not judge an event") }.isEmpty, "\(logs.all)")
        try await fixture.store.transaction { transaction in
            try await ReactionEngine.handle([event], rules: fixture.shipped.rules, firing: firing, logger: logs.logger(), in: transaction)
        }
        let notices = logs.all.filter { $0.contains("a rule could not judge an event") }
        #expect(notices.count == 1 && notices[0].contains("no journey 'o-missing' has started"), "\(logs.all)")
    }
}
