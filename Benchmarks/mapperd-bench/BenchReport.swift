import Foundation

/// Prints result lines as JSON.
enum BenchReport {
    static func emit(_ fields: [(String, Any)]) {
        var parts: [String] = []
        for (key, value) in fields {
            switch value {
            case let string as String: parts.append("\"\(key)\":\"\(string)\"")
            case let double as Double: parts.append("\"\(key)\":\(String(format: "%.3f", double))")
            default: parts.append("\"\(key)\":\(value)")
            }
        }
        FileHandle.standardOutput.write(Data(("{" + parts.joined(separator: ",") + "}\n").utf8))
    }

    /// One throughput case: ops/s of the engine and of the baseline, and their ratio.
    /// `ratio` defaults to `ops / baseline`; a paired measurement gives its own (the median of
    /// its pairs' ratios, ``Throughput/compare(submitters:seconds:pairs:engine:baseline:)``).
    static func throughput(
        _ name: String, ops: Double, baseline: Double, ratio: Double? = nil, extra: [(String, Any)] = []
    ) {
        emit(
            [
                ("bench", name), ("opsPerSec", Int(ops)), ("baselineOpsPerSec", Int(baseline)),
                ("ratio", ratio ?? ops / baseline),
            ] + extra)
    }
}
