import Foundation
import Synchronization

/// Runs `submitters` concurrent loops of an operation for a fixed time and returns ops/s.
enum Throughput {
    /// A closure that performs one operation; `index` numbers the submitter.
    typealias Operation = @Sendable (_ submitter: Int) async -> Void

    static func measure(submitters: Int, seconds: Double, _ operation: @escaping Operation) async -> Double {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        let start = ContinuousClock.now
        let total = await withTaskGroup(of: Int.self) { group in
            for index in 0..<submitters {
                group.addTask {
                    var count = 0
                    while true {
                        for _ in 0..<64 { await operation(index) }
                        count += 64
                        if ContinuousClock.now >= deadline { break }
                    }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(total) / secondsElapsed
    }

    /// Interleaves `rounds` of the engine and the baseline and keeps the best of each.
    static func compare(
        submitters: Int, seconds: Double, rounds: Int = 3, engine: @escaping Operation, baseline: @escaping Operation
    ) async -> (engine: Double, baseline: Double) {
        var best = (engine: 0.0, baseline: 0.0)
        for _ in 0..<rounds {
            best.baseline = max(best.baseline, await measure(submitters: submitters, seconds: seconds, baseline))
            best.engine = max(best.engine, await measure(submitters: submitters, seconds: seconds, engine))
        }
        return best
    }
}
