/// How a bio ended, as one 64-bit word (``Bio``'s `endWord`), so that a bio ends with a
/// single compare-exchange that records both its outcome and its time.
///
/// The word is 0 while the bio has not ended. Otherwise its low 16 bits are the outcome plus
/// one (1 for success, the errno plus one for a failure: an errno is below 4096 on Linux, and
/// any value is clamped to 1…65534 so that no failure can read as success), and the bits
/// above hold the time from the bio's start to its end in units of 64 ns (saturating after
/// 208 days; a negative time counts as 0). ``completedNanos`` is therefore up to 64 ns
/// early; the latency counted in the statistics uses the exact reading.
struct BioEnd: Equatable {
    var error: Errno?
    /// ``MonotonicClock`` at the end (to within 64 ns).
    var completedNanos: Int64

    static let latencyShift: UInt64 = 16
    static let latencyUnitShift: UInt64 = 6

    /// The word for a bio that ended with `error`, `latency` nanoseconds after it started.
    @inline(__always)
    static func word(error: Errno?, latency: Int64) -> UInt64 {
        let units = UInt64(max(latency, 0)) >> latencyUnitShift
        let code = error.map { UInt64(min(max($0.rawValue, 1), 0xFFFE)) } ?? 0
        return (min(units, UInt64.max >> latencyShift) << latencyShift) | (code + 1)
    }

    /// The end a word records, for a bio that started at `startedNanos` (`nil` for 0: not
    /// ended).
    @inline(__always)
    init?(_ word: UInt64, startedNanos: Int64) {
        guard word != 0 else { return nil }
        let code = Int32(truncatingIfNeeded: word & 0xFFFF) - 1
        error = code == 0 ? nil : Errno(rawValue: code)
        completedNanos = startedNanos &+ Int64(truncatingIfNeeded: (word >> Self.latencyShift) << Self.latencyUnitShift)
    }

    var state: BioState { error == nil ? .completed : .failed }
}
