import Foundation
import WaymarkEventStore

/// One webhook endpoint's limit on deliveries in flight and its circuit. The circuit opens after
/// `failuresToOpen` failed attempts in a row and stays open for `openFor`: deliveries meanwhile are
/// put off to when it may close, without counting as attempts. Then one delivery probes (half
/// open): a success closes the circuit, a failure opens it again. Per worker process: several
/// workers each keep their own, so an endpoint sees at most workers × `concurrency`.
actor EndpointGate {
    struct Circuit: Sendable, Equatable {
        var failuresToOpen: Int
        var openFor: Duration
    }

    enum Admission: Sendable, Equatable {
        case go
        /// The circuit is open: try again at this time.
        case deferred(until: Date)
    }

    let limit: Int
    let circuit: Circuit
    private var inFlight = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var failures = 0
    private var openUntil: Date?
    private var probing = false

    init(limit: Int, circuit: Circuit) {
        self.limit = limit
        self.circuit = circuit
    }

    /// Whether a delivery may go now; when it may, it holds one of the endpoint's places until
    /// `finish`. Waits for a place while `limit` are in flight.
    func admit(now: Date) async -> Admission {
        if let openUntil {
            if now < openUntil { return .deferred(until: openUntil) }
            // Half open: one probe at a time; the rest wait a little.
            if probing { return .deferred(until: now.addingTimeInterval(1)) }
            probing = true
        }
        if inFlight >= limit {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            inFlight += 1
        }
        return .go
    }

    enum Result: Sendable {
        case succeeded
        case failed
        /// The endpoint answered but asked for a pause (429): no sign of a broken endpoint.
        case throttled
    }

    /// Releases the place and feeds the circuit with the attempt's result.
    func finish(_ result: Result, now: Date) {
        switch result {
        case .succeeded:
            failures = 0
            openUntil = nil
        case .throttled:
            break
        case .failed:
            failures += 1
            if openUntil != nil || failures >= circuit.failuresToOpen {
                openUntil = now.addingTimeInterval(WallTime.seconds(circuit.openFor))
            }
        }
        probing = false
        if waiters.isEmpty {
            inFlight -= 1
        } else {
            // The place passes straight to the next waiter.
            waiters.removeFirst().resume()
        }
    }

    var isOpen: Bool { openUntil != nil }
}
