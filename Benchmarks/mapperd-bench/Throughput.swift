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

    /// Runs the engine and the baseline in `pairs` adjacent short slices (each pair in the
    /// order AB or BA, alternately) and returns the median of each side's throughput and the
    /// median of the pairs' ratios. Each side gets `seconds * 3` in all, in slices of
    /// `seconds / 20`. On a shared machine a neighbour's load comes and goes over longer
    /// stretches than one slice, so the two slices of a pair see the same machine and their
    /// ratio cancels it; the median drops the pairs a change fell across. (One operation
    /// measured against itself: 0.99 to 1.02 this way; 0.90 to 1.19 with three long rounds and
    /// the best of each.)
    static func compare(
        submitters: Int, seconds: Double, pairs: Int = 60, engine: @escaping Operation, baseline: @escaping Operation
    ) async -> (engine: Double, baseline: Double, ratio: Double) {
        var engineRates: [Double] = []
        var baselineRates: [Double] = []
        var ratios: [Double] = []
        let slice = seconds / 20
        for pair in 0..<pairs {
            let e: Double
            let b: Double
            if pair % 2 == 0 {
                b = await measure(submitters: submitters, seconds: slice, baseline)
                e = await measure(submitters: submitters, seconds: slice, engine)
            } else {
                e = await measure(submitters: submitters, seconds: slice, engine)
                b = await measure(submitters: submitters, seconds: slice, baseline)
            }
            engineRates.append(e)
            baselineRates.append(b)
            ratios.append(b > 0 ? e / b : 0)
        }
        return (median(engineRates), median(baselineRates), median(ratios))
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
