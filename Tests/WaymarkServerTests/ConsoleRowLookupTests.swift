import Foundation
import Mustache
import Testing

@testable import WaymarkConsole

@Suite("Console: rows looked up by name")
struct ConsoleRowLookupTests {
    /// Every stored property of `row` answers `child(named:)` with its own value: a field added to
    /// a row but not to its lookup would render empty.
    func checkEveryField(_ row: some MustacheParent) {
        for child in Mirror(reflecting: row).children {
            guard let name = child.label else { continue }
            #expect(row.child(named: name).map(Self.text) ?? "nil" == Self.text(child.value), "\(type(of: row)).\(name)")
        }
        #expect(row.child(named: "no-such-field") == nil)
    }

    /// A value as text, an optional's unwrapped.
    static func text(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return String(describing: value) }
        return mirror.children.first.map { text($0.value) } ?? "nil"
    }

    @Test("the board's cards, the journey list's rows and the SLA page's rows answer every field they have")
    func everyField() {
        checkEveryField(
            BoardPage.Card(
                journeyId: "j-1", href: "/console/journeys/j-1", tier: "gold", owner: "ana", status: "stalled", statusWords: "stalled", age: "2 d",
                stalled: true, breached: true, waiting: false, escalationLevel: 2))
        checkEveryField(
            JourneyListPage.Row(
                journeyId: "j-2", href: "/h", journeyType: "renewal", stage: "offer", department: "sales", owner: "ben", tier: "standard",
                statusWords: "active", stalled: false, inStage: "3 h", started: "2026-12-01"))
        checkEveryField(
            SLAPage.Row(
                journeyId: "j-3", href: "/h", goal: "first-response", tier: "strategic", department: "service", state: "running", stateWords: "running",
                percent: "80 %", percentText: "80", remaining: "1 h", breachAt: "12:00", breachAtMachine: "2026-12-07T12:00:00Z", counting: true,
                breached: false))
    }
}
