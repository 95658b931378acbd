import Foundation
import Logging
import WaymarkClient
import WaymarkDomain

/// What to play as it happens.
public struct RealTimeOptions: Sendable {
    /// The journey types to play: ones whose stages last seconds or minutes (the demo's
    /// `express-repair`), or a day-long type would take days to watch.
    public var journeyTypes: [String]
    /// Journeys started each round, spread over the round.
    public var journeysPerRound: Int
    public var interval: Duration
    /// Each round draws from `seed + round`, so rounds (and runs with other seeds) never share ids.
    public var seed: UInt64
    /// The longest a journey is played for after it starts; what its script holds later (a late
    /// survey answer) is left out.
    public var horizon: Duration

    public init(journeyTypes: [String], journeysPerRound: Int, interval: Duration, seed: UInt64, horizon: Duration = .seconds(3_600)) {
        self.journeyTypes = journeyTypes
        self.journeysPerRound = journeysPerRound
        self.interval = interval
        self.seed = seed
        self.horizon = horizon
    }
}

extension Simulator {
    /// Plays journeys in real time, until cancelled: every `interval` a round of new customers and
    /// journeys, each journey's commands (and the integration events around them) sent when the
    /// wall clock reaches the time its script gives them. Journeys the script lets stall simply stop,
    /// so the process manager meets them as it would a silent department: stall deadlines, SLA
    /// clocks crossing their marks, escalations and their notifications, while a person watches.
    public func play(_ options: RealTimeOptions) async throws {
        guard options.journeysPerRound > 0 else { throw ClientError(code: .invalidInput, message: "a round needs at least one journey") }
        for type in options.journeyTypes where client.catalog.current(type) == nil {
            throw ClientError(code: .unknownJourneyType, message: "no definition of journey type '\(type)' is loaded")
        }
        try await withThrowingDiscardingTaskGroup { group in
            var round: UInt64 = 0
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled {
                let horizon = Double(options.horizon.components.seconds)
                let customers = SimulationOptions(journeys: options.journeysPerRound, seed: options.seed &+ round, until: Date(), days: 1)
                let customerCount = max(1, customers.journeys / 3)
                do {
                    try await registerCustomers(Array(0..<customerCount), customers, pace: nil, since: clock.now)
                    // The journeys start from now, once their customers exist (on a busy server
                    // registering them takes a while).
                    let now = Date()
                    let journeys = SimulationOptions(
                        journeys: options.journeysPerRound, seed: customers.seed, until: now.addingTimeInterval(horizon), days: 1,
                        journeyTypes: options.journeyTypes, starts: DateInterval(start: now, duration: Double(options.interval.components.seconds)))
                    let scripter = JourneyScripter(catalog: client.catalog, journeyTypes: options.journeyTypes, until: journeys.until)
                    for index in 0..<journeys.journeys {
                        let script = Self.script(index, journeys, customers: customerCount, scripter: scripter)
                        counts.withLock {
                            $0.journeysStarted += 1
                            $0.fates[script.fate, default: 0] += 1
                        }
                        group.addTask { await self.playInRealTime(script) }
                    }
                } catch {
                    // Stopped while the round's customers were written: the player ends.
                    if Task.isCancelled || error is CancellationError { return }
                    logger.warning("a real-time round's customers failed; the next round tries again", metadata: ["waymark.error": "\(error)"])
                }
                round += 1
                next = next.advanced(by: options.interval)
                do { try await clock.sleep(until: next) } catch { return }
            }
        }
    }

    /// Sends a script's commands and integration events each at its time; a refused or failed
    /// command is logged and the journey goes on (its later commands may be refused too).
    private func playInRealTime(_ script: JourneyScript) async {
        for (position, step) in script.commands.enumerated() {
            guard await sleep(until: step.occurredAt) else { return }
            do {
                let result = try await client.send(
                    step.command, to: script.journeyId,
                    context: CommandContext(commandId: step.commandId, actor: step.actor, sourceSystem: step.sourceSystem, occurredAt: step.occurredAt))
                counts.withLock {
                    $0.commands += 1
                    $0.events += result.events.count
                }
            } catch {
                // Stopped mid-command: the command's failure says nothing about the journey.
                if Task.isCancelled || error is CancellationError { return }
                counts.withLock { $0.rejected += 1 }
                logger.notice("real-time journey command refused", metadata: ["waymark.journey": "\(script.journeyId)", "waymark.error": "\(error)"])
            }
            for event in script.integrationEvents where event.afterCommand == position {
                guard await sleep(until: event.occurredAt) else { return }
                do {
                    try await appendIntegrationEvent(event, to: script.journeyId)
                    counts.withLock {
                        $0.events += 1
                        $0.integrationEvents[event.type, default: 0] += 1
                    }
                } catch {
                    logger.notice("real-time integration event failed", metadata: ["waymark.journey": "\(script.journeyId)", "waymark.error": "\(error)"])
                }
            }
        }
    }

    /// Waits for the wall clock to reach `date`; false when cancelled meanwhile.
    private func sleep(until date: Date) async -> Bool {
        let wait = date.timeIntervalSinceNow
        if wait > 0 {
            do { try await Task.sleep(for: .milliseconds(Int64(wait * 1_000))) } catch { return false }
        }
        return !Task.isCancelled
    }
}
