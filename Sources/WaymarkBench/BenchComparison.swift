import Foundation

/// Runs a waymark side and a baseline side of a benchmark fairly and turns their latencies into
/// figures (shared by the `bench` commands).
enum BenchComparison {
    struct Figures {
        var eventsPerSecond: Double
        var p50: Duration
        var p99: Duration
        var clientCPU: Double

        /// The figures of operations that took `latencies`, `time` in all and `cpu` seconds of the
        /// process's CPU.
        init(latencies: [Duration], time: Duration, cpu: Double, eventsPerOperation: Int) {
            let sorted = latencies.sorted()
            eventsPerSecond = Double(sorted.count * eventsPerOperation) / time.seconds
            p50 = sorted[sorted.count / 2]
            p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
            clientCPU = cpu / Double(sorted.count) * 1e6
        }
    }

    static func processCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// CPU seconds used so far by each PostgreSQL server process on this machine (Linux), by
    /// process id; nil where /proc cannot tell. A server elsewhere shows no processes.
    static func localPostgresCPU() -> [Int: Double]? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        var seconds: [Int: Double] = [:]
        for entry in entries {
            guard let pid = Int(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8), stat.contains(" (postgres) ")
            else { continue }
            // After the command's closing parenthesis: state is field 3, utime and stime 14 and 15.
            let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            seconds[pid] = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }
        return seconds
    }

    /// The PostgreSQL CPU seconds since `before` (`localPostgresCPU()`): of the processes running
    /// now, so a backend or autovacuum worker that ended meanwhile is missed, not subtracted.
    static func localPostgresCPU(since before: [Int: Double]?) -> Double? {
        guard let before, let now = localPostgresCPU() else { return nil }
        return now.reduce(0) { $0 + $1.value - (before[$1.key] ?? 0) }
    }

    /// Runs `operation` `count` times split over `writers` concurrent tasks.
    static func measure(writers: Int, count: Int, eventsPerOperation: Int, _ operation: @escaping @Sendable (_ writer: Int, _ index: Int) async throws -> Void)
        async throws -> (Duration, [Duration])
    {
        let clock = ContinuousClock()
        let perWriter = count / writers
        var latencies: [Duration] = []
        let start = clock.now
        try await withThrowingTaskGroup(of: [Duration].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var mine: [Duration] = []
                    mine.reserveCapacity(perWriter)
                    for index in 0..<perWriter {
                        let began = clock.now
                        try await operation(writer, index)
                        mine.append(clock.now - began)
                    }
                    return mine
                }
            }
            for try await mine in group { latencies += mine }
        }
        return (clock.now - start, latencies)
    }

    /// Runs both sides `count` times each and returns their figures. One writer alternates the two
    /// sides operation by operation (which goes first alternates too), so both meet the same disk
    /// and machine at the same moments; nothing else runs meanwhile, so each side's time is the sum
    /// of its own operations. Several writers cannot share the machine fairly that way (each side
    /// would slow the other down), so each side runs alone in turn, over up to 16 rounds ordered ABBA,
    /// and drift (table growth, checkpoints, autovacuum, a noisy neighbour) hits both alike.
    static func compare(
        writers: Int, count: Int, eventsPerOperation: Int,
        waymark: @escaping @Sendable (Int, Int) async throws -> Void, plain: @escaping @Sendable (Int, Int) async throws -> Void
    ) async throws -> (waymark: Figures, plain: Figures) {
        var time: [Bool: Duration] = [true: .zero, false: .zero]
        var latencies: [Bool: [Duration]] = [true: [], false: []]
        var cpu: [Bool: Double] = [true: 0, false: 0]
        if writers == 1 {
            let clock = ContinuousClock()
            for index in 0..<count {
                for isWaymark in index % 2 == 0 ? [false, true] : [true, false] {
                    let cpuBefore = Self.processCPU()
                    let began = clock.now
                    try await (isWaymark ? waymark : plain)(0, index)
                    let took = clock.now - began
                    cpu[isWaymark]! += Self.processCPU() - cpuBefore
                    time[isWaymark]! += took
                    latencies[isWaymark]!.append(took)
                }
            }
        } else {
            // Up to 16 rounds, each long enough for every writer to do at least 8 operations.
            let rounds = max(2, min(16, count / (writers * 8)) / 2 * 2)
            for round in 0..<rounds {
                // plain, waymark, waymark, plain, plain, …
                for isWaymark in round % 2 == 0 ? [false, true] : [true, false] {
                    let offset = round * count
                    let cpuBefore = Self.processCPU()
                    let (elapsed, lat) = try await measure(writers: writers, count: count / rounds, eventsPerOperation: eventsPerOperation) { writer, index in
                        try await (isWaymark ? waymark : plain)(writer, offset + index)
                    }
                    cpu[isWaymark]! += Self.processCPU() - cpuBefore
                    time[isWaymark]! += elapsed
                    latencies[isWaymark]! += lat
                }
            }
        }
        func figures(_ side: Bool) -> Figures {
            Figures(latencies: latencies[side]!, time: time[side]!, cpu: cpu[side]!, eventsPerOperation: eventsPerOperation)
        }
        return (figures(true), figures(false))
    }

}
