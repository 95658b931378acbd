import CLibPQ
import Foundation
import WaymarkEventStore
import WaymarkPostgres

/// The plain INSERT as pgbench sends it: one prepared statement executed in a loop on one
/// thread straight through libpq, with no Swift concurrency, pool or decoding in between. The
/// floor under what a client in any language pays per statement; the distance from it to the
/// plain side is the Swift layer's own cost.
enum LibpqBaseline {
    struct Figures {
        var eventsPerSecond: Double
        var p50: Duration
        /// CPU time of the thread, per statement.
        var clientCPU: Double
    }

    static func run(configuration: PostgresConfiguration, sql: String, count: Int, payload: @escaping @Sendable (Int) -> String, metadataJSON: String)
        async throws
        -> Figures
    {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Figures, Error>) in
            let thread = Thread {
                continuation.resume(
                    with: Result { try loop(configuration: configuration, sql: sql, count: count, payload: payload, metadataJSON: metadataJSON) })
            }
            thread.start()
        }
    }

    private static func threadCPU() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    private static func loop(configuration: PostgresConfiguration, sql: String, count: Int, payload: (Int) -> String, metadataJSON: String) throws -> Figures {
        let pg = try PostgresConnection.connectBlocking(configuration)
        defer { PQfinish(pg) }
        guard let prepared = PQprepare(pg, "libpq_insert", sql, 0, nil) else {
            throw PostgresError(code: PostgresError.clientFailure, message: "PQprepare failed")
        }
        defer { PQclear(prepared) }
        guard PQresultStatus(prepared) == PGRES_COMMAND_OK else {
            throw PostgresError(code: PostgresError.clientFailure, message: String(cString: PQresultErrorMessage(prepared)))
        }
        let clock = ContinuousClock()
        var latencies: [Duration] = []
        latencies.reserveCapacity(count)
        let cpuBefore = threadCPU()
        let started = clock.now
        for index in 0..<count {
            let began = clock.now
            let values = ["libpq-\(index % 10)", String(index / 10 + 1), UUID.timeOrdered().lowercasedText, "MilestoneReached", payload(index), metadataJSON]
            let pointers = values.map { strdup($0) }
            defer { pointers.forEach { free($0) } }
            let result = pointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { PQexecPrepared(pg, "libpq_insert", 6, $0.baseAddress, nil, nil, 0) }
            guard let result else { throw PostgresError(code: PostgresError.clientFailure, message: "PQexecPrepared failed") }
            let status = PQresultStatus(result)
            PQclear(result)
            guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
                throw PostgresError(code: PostgresError.clientFailure, message: "the plain INSERT failed")
            }
            latencies.append(clock.now - began)
        }
        let elapsed = clock.now - started
        let cpu = threadCPU() - cpuBefore
        latencies.sort()
        return Figures(eventsPerSecond: Double(count) / elapsed.seconds, p50: latencies[count / 2], clientCPU: cpu / Double(count) * 1e6)
    }
}
