import Foundation
import Testing
import WaymarkClient
import WaymarkDomain
import WaymarkEventStore
import WaymarkPostgres
import WaymarkTesting

// @testable: the firing's round is called directly, with the scheduler stopped behind the stream.
@testable import WaymarkProcessManager

@Suite("Process manager: consent deadlines fire only on the stream version their watch folded", .scaledTimeLimit(minutes: 5))
struct ConsentFiringCheckTests {
    @Test("a consent stream that moved past its watch is not fired on; once the scheduler folds the move, the deadlines fire")
    func streamAheadOfItsWatch() async throws {
        let fixture = try await Fixture()
        defer { Task { await fixture.store.close() } }
        _ = try await fixture.give(ConsentPropagationTests.marketingEmail, subject: "s-6", at: 0)
        // Both made now: a manager's wall time starts at the origin when it is made.
        let first = try fixture.processManager(instance: "pm-1")
        let second = try fixture.processManager(instance: "pm-2")
        try await withServices([first]) {
            let scheduled = try await first.waitUntilScheduled(timeout: TestTime.deadline)
            #expect(scheduled)
        }
        // With no scheduler running, an integration event moves the subject's stream on.
        try await fixture.client.append(
            toStream: ConsentDecider.streamName("s-6"), events: [EventData(type: "CrmContactSynced", data: #"{"contact":"C-1"}"#)])
        fixture.clock.advance(by: .seconds(300 * 60))
        let round = try await first.firing.fireDue(upTo: fixture.at(300))
        #expect(round.claimed == 2 && round.behind == 2 && round.fired == 0)
        #expect(try await fixture.overdue("s-6").isEmpty)
        #expect(try await fixture.deadlineStates("s-6").values.allSatisfy { $0 == ["pending"] })

        try await withServices([second]) {
            #expect(try await second.waitUntilScheduled(timeout: TestTime.deadline))
            try await eventually("both systems overdue", observing: { try await fixture.overdue("s-6").count }) { $0 == 2 }
        }
        #expect(try await fixture.overdue("s-6").allSatisfy { $0.dueAt == fixture.at(240) && $0.audit.instance == "pm-2" })
    }
}
