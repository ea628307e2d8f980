import MapperCore

/// Writes the Prometheus text exposition format (version 0.0.4): one `# HELP` and `# TYPE`
/// line per family, then its samples. Label values are escaped (`\\`, `"`, newline); numbers
/// are written as Prometheus reads them (`+Inf`, `NaN`).
struct PrometheusText {
    enum Kind: String {
        case counter, gauge, histogram
    }

    private(set) var text = ""

    /// Starts a family; every sample after it until the next family belongs to it.
    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            text += labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",")
            text += "}"
        }
        text += " \(Self.format(value))\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: UInt64) {
        sample(name, labels, Double(value))
    }

    /// A histogram's `_bucket` samples (cumulative, with `le`), `_sum` and `_count`;
    /// observations and bounds are divided by `scale` (1e9 turns nanoseconds into seconds).
    mutating func histogram(
        _ name: String, _ labels: [(String, String)], _ snapshot: AtomicHistogram.Snapshot, scale: Double = 1
    ) {
        for (index, count) in snapshot.cumulative.enumerated() {
            let bound = index < snapshot.bounds.count ? Self.format(Double(snapshot.bounds[index]) / scale) : "+Inf"
            sample(name + "_bucket", labels + [("le", bound)], count)
        }
        sample(name + "_sum", labels, Double(snapshot.sum) / scale)
        sample(name + "_count", labels, snapshot.count)
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
