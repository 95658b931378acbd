import Foundation
import PropertyBased
import Testing
import WaymarkDomain
import WaymarkTesting

let shipped = try! DefinitionLoader.load(directory: configDirectory)
let newBusiness = shipped.definitions["new-business"]!

/// Runs `commands` from nothing; returns the state and every event, or the first rejection.
func run(_ commands: [JourneyCommand], _ definition: JourneyDefinition = newBusiness) -> (JourneyState, [JourneyEvent], Rejection?) {
    var state = JourneyState()
    var events: [JourneyEvent] = []
    for command in commands {
        switch JourneyDecider.decide(state, command, definition: definition) {
        case .success(let new):
            events += new
            state = new.reduce(state, JourneyState.evolve)
        case .failure(let rejection):
            return (state, events, rejection)
        }
    }
    return (state, events, nil)
}

let start = JourneyCommand.start(.init(journeyId: "j-1", customerId: "c-1", journeyType: "new-business", tier: "strategic", owner: "ana"))
let toContract: [JourneyCommand] = [start, .reachMilestone("discovery-call-held"), .moveToStage("proposal"), .moveToStage("contract")]
let allFacts = ["signed-contract": "doc-1", "billing-contact": "b@x", "kickoff-date": "2026-12-01", "success-plan-owner": "ana"]

@Suite("Journey decisions")
struct JourneyTests {
    @Test("a journey across departments: milestones, a handoff accepted with its facts, completion")
    func happyPath() throws {
        let (state, events, rejection) = run(
            toContract + [
                .reachMilestone("contract-signed"), .requestHandoff(toStage: "kickoff", facts: allFacts), .acceptHandoff(by: "onboarding-lead"),
                .reachMilestone("kickoff-held"), .waitOnCustomer(reason: "success plan review"), .resume, .reassignOwner(to: "ben"), .complete,
                .recordFeedback(.init(kind: .nps, score: 9, channel: "email", comment: PersonalData("great team"))),
            ])
        #expect(rejection == nil, "\(String(describing: rejection))")
        #expect(state.status == .completed)
        #expect(state.stage == "kickoff" && state.department == "onboarding")
        #expect(state.stagesVisited == ["qualification", "proposal", "contract", "kickoff"])
        #expect(state.owner == "ben")
        #expect(state.definitionVersion == newBusiness.version.description)
        #expect(events.map(\.type).contains("HandoffAccepted"))
        #expect(state.version == Int64(events.count))
        #expect(JourneyState.replay(events) == state)
    }

    @Test("every event survives its stored form: type and JSON data decode to the same event")
    func storedForm() throws {
        let (_, events, _) = run(toContract + [.requestHandoff(toStage: "kickoff", facts: allFacts), .acceptHandoff(by: "x"), .cancel(reason: "budget cut")])
        for event in events {
            #expect(try JourneyEvent.decode(type: event.type, data: try event.data()) == event)
        }
        #expect(try JourneyEvent.decode(type: "SomethingElse", data: "{}") == nil)
        #expect("\(PersonalData("ana@example.com"))".contains("ana") == false, "personal data never prints")
    }

    /// One command sequence per rejection code, ending in the command refused.
    @Test(
        "every rejection has its code and a message",
        arguments: [
            ([JourneyCommand.reachMilestone("x")], Rejection.Code.journeyNotStarted),
            ([start, start], .journeyAlreadyStarted),
            ([start, .complete, .reachMilestone("budget-confirmed")], .journeyClosed),
            ([.start(.init(journeyId: "j", customerId: "c", journeyType: "renewal", tier: "strategic"))], .wrongDefinition),
            ([.start(.init(journeyId: "j", customerId: "c", journeyType: "new-business", tier: "platinum"))], .unknownTier),
            ([start, .moveToStage("nowhere")], .unknownStage),
            ([start, .reachMilestone("moon-landing")], .unknownMilestone),
            ([start, .reachMilestone("kickoff-held")], .milestoneNotInStage),
            ([start, .reachMilestone("budget-confirmed"), .reachMilestone("budget-confirmed")], .milestoneAlreadyReached),
            ([start, .moveToStage("contract")], .transitionNotAllowed),
            (toContract + [.moveToStage("kickoff")], .handoffRequired),
            ([start, .requestHandoff(toStage: "proposal", facts: [:])], .notAHandoff),
            (toContract + [.requestHandoff(toStage: "kickoff", facts: [:]), .requestHandoff(toStage: "kickoff", facts: allFacts)], .handoffAlreadyPending),
            ([start, .acceptHandoff(by: "x")], .noPendingHandoff),
            (toContract + [.requestHandoff(toStage: "kickoff", facts: ["signed-contract": "doc"]), .acceptHandoff(by: "x")], .acceptanceCriteriaMissing),
            ([start, .waitOnCustomer(reason: "docs"), .waitOnCustomer(reason: "docs")], .alreadyWaitingOnCustomer),
            ([start, .resume], .notWaitingOnCustomer),
            ([start, .waitOnCustomer(reason: "docs"), .moveToStage("proposal")], .waitingOnCustomer),
            ([start, .reassignOwner(to: "ana")], .sameOwner),
            ([start, .recordFeedback(.init(kind: .csat, score: 6, channel: "email"))], .scoreOutOfRange),
            ([start, .cancel(reason: "lost"), .recordCompensation("refund-payment")], .compensationNotOwed),
            ([start, .reassignOwner(to: " ")], .invalidInput),
        ])
    func rejections(commands: [JourneyCommand], code: Rejection.Code) {
        let (_, _, rejection) = run(commands)
        #expect(rejection?.code == code, "\(String(describing: rejection))")
        #expect(rejection.map { !$0.message.isEmpty } == true)
        // The refusal is the last command: everything before it was accepted.
        #expect(run(Array(commands.dropLast())).2 == nil)
    }

    @Test("cancelling lists the compensations owed for the milestones reached; each can be recorded once")
    func compensations() {
        let path: [JourneyCommand] =
            toContract + [
                .requestHandoff(toStage: "kickoff", facts: allFacts), .acceptHandoff(by: "x"), .moveToStage("configuration"),
                .reachMilestone("accounts-created"),
                .reachMilestone("data-imported"), .cancel(reason: "customer went bankrupt"),
            ]
        let (state, _, rejection) = run(path)
        #expect(rejection == nil)
        #expect(state.compensationsOwed == ["delete-accounts"])
        let (done, _, ok) = run(path + [.recordCompensation("delete-accounts")])
        #expect(ok == nil && done.compensationsDone == ["delete-accounts"])
        #expect(run(path + [.recordCompensation("delete-accounts"), .recordCompensation("delete-accounts")]).2?.code == .compensationNotOwed)
    }

    @Test("a journey runs under the definition it started under, not a changed one")
    func definitionVersionSticks() throws {
        var changed = newBusiness
        changed.version = DefinitionVersion(name: newBusiness.version.name, contentHash: "0000000000000000")
        let (state, _, _) = run([start])
        guard case .failure(let rejection) = JourneyDecider.decide(state, .reachMilestone("budget-confirmed"), definition: changed) else {
            Issue.record("accepted under another definition version")
            return
        }
        #expect(rejection.code == .wrongDefinition)
    }

    /// Random command sequences over every shipped definition: whatever is accepted keeps to the
    /// definition's transitions, and replaying the events rebuilds the same state.
    @Test("random command sequences never break the definition's rules, and replay rebuilds the state")
    func randomSequences() async {
        let definitions = shipped.definitions.values.sorted { $0.journeyType < $1.journeyType }
        await propertyCheck(
            count: 300, input: Gen.int(in: 0...(definitions.count - 1)), Gen.int(in: 0...10_000).array(of: 1...120),
            perform: recordingErrors { (which: Int, picks: [Int]) in
                let definition = definitions[which]
                let stages = definition.stages.map(\.id)
                let milestones = definition.stages.flatMap(\.milestones)
                let criteria = Set(definition.transitions.compactMap(\.handoff).flatMap(\.acceptanceCriteria))
                var state = JourneyState()
                var events: [JourneyEvent] = []
                for (index, pick) in ([0] + picks).enumerated() {
                    let command: JourneyCommand
                    if index == 0 {
                        command = .start(
                            .init(journeyId: "j", customerId: "c", journeyType: definition.journeyType, tier: definition.tiers[pick % definition.tiers.count]))
                    } else {
                        // Mostly commands that move the journey on (so that sequences get far), with
                        // invalid ones mixed in; closing is rare.
                        let current = state.stage ?? stages[0]
                        let next = definition.transitions.filter { $0.from == current }
                        let here = definition.stage(current)?.milestones ?? []
                        let facts = pick % 5 == 0 ? [:] : Dictionary(uniqueKeysWithValues: criteria.map { ($0, "yes") })
                        switch pick % 20 {
                        case 0...3: command = .reachMilestone(here.isEmpty || pick % 9 == 0 ? milestones[pick % milestones.count] : here[pick % here.count])
                        case 4...8:
                            let target = next.isEmpty ? stages[pick % stages.count] : next[pick % next.count].to
                            command =
                                pick % 4 == 0
                                ? .moveToStage(target)
                                : (definition.transition(from: current, to: target)?.handoff == nil
                                    ? .moveToStage(target) : .requestHandoff(toStage: target, facts: facts))
                        case 9...11: command = .acceptHandoff(by: "x")
                        case 12: command = .rejectHandoff(by: "x", reason: "not ready")
                        case 13: command = .waitOnCustomer(reason: "docs")
                        case 14: command = .resume
                        case 15: command = .reassignOwner(to: "owner-\(pick % 3)")
                        case 16: command = .moveToStage(stages[pick % stages.count])
                        case 17: command = .recordFeedback(.init(kind: pick % 2 == 0 ? .csat : .nps, score: pick % 12 - 1, channel: "email"))
                        case 18: command = pick % 13 == 0 ? .cancel(reason: "lost") : .resume
                        default:
                            let owed = state.compensationsOwed.filter { !state.compensationsDone.contains($0) }
                            command = !owed.isEmpty ? .recordCompensation(owed[pick % owed.count]) : (pick % 11 == 0 ? .complete : .acceptHandoff(by: "y"))
                        }
                    }
                    if case .success(let new) = JourneyDecider.decide(state, command, definition: definition) {
                        events += new
                        state = new.reduce(state, JourneyState.evolve)
                    }
                }
                #expect(JourneyState.replay(events) == state)
                // Every stage change follows a transition of the definition; none happens after closing.
                var current: String?
                var closed = false
                for event in events {
                    switch event {
                    case .started(let started): current = started.stage
                    case .stageEntered(let entered):
                        #expect(!closed)
                        #expect(definition.transition(from: current ?? "", to: entered.stage) != nil, "\(current ?? "?") → \(entered.stage)")
                        current = entered.stage
                    case .milestoneReached(let reached):
                        #expect(!closed)
                        #expect(definition.stage(ofMilestone: reached.milestone)?.id == current)
                    case .completed, .cancelled: closed = true
                    case .feedbackReceived(let feedback): #expect(feedback.kind.range.contains(feedback.score))
                    default: break
                    }
                }
                #expect(state.compensationsDone.allSatisfy(state.compensationsOwed.contains))
            })
    }
}
