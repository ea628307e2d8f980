/// Decides, per connection and by measurement, whether busy polling pays for itself: a pure
/// state machine fed with the idle gaps of a client in lockstep (from the moment the
/// connection fell idle to the moment its next request arrived), which is the whole of a
/// queue-depth-1 round trip that the server does not spend serving.
///
/// Why measure: whether polling helps depends on the machine, not on the server. Where an
/// idle CPU halts and a wake-up is slow, polling saves the server's wake-up (10–15 % more
/// requests at queue depth 1); where the two CPUs of a virtual machine share their host's
/// time, the polling CPU takes time from the client's, and the same window halves the
/// requests (both measured with the same binary). So the connection tries both.
///
/// The schedule: a trial of ``trialSamples`` gaps with polling, then as many without; the
/// connection keeps polling only if the median gap while polling was below
/// ``pollingMustBeat`` of the median without (polling spends CPU, so it must win clearly);
/// then the choice holds for ``settledSamples`` gaps and the trial runs again, so a change in
/// load or placement is found within a few thousand requests. Medians, not means: a client
/// that pauses now and then must not decide. Only gaps are counted here; the caller feeds
/// only the idle periods of a client in lockstep.
struct NBDBusyPollTuner: Sendable, Equatable {
    /// Gaps measured in each mode of a trial.
    static let trialSamples = 64
    /// Gaps the choice holds for between trials.
    static let settledSamples = 4096
    /// Polling is kept only if its median gap is below this fraction of the median without.
    static let pollingMustBeat = 0.9

    enum Stage: Sendable, Equatable {
        /// Measuring gaps with polling.
        case trialPolling
        /// Measuring gaps without polling; `pollingMedian` is what polling gave.
        case trialSleeping(pollingMedian: UInt64)
        /// The choice holds for `remaining` more gaps.
        case settled(remaining: Int)
    }

    /// Whether an idle connection polls now.
    private(set) var polls = true
    private(set) var stage = Stage.trialPolling
    /// The current trial's gaps.
    private var samples: [UInt64] = []
    /// The medians of a completed trial, in nanoseconds.
    struct Trial: Sendable, Equatable {
        var polling: UInt64
        var sleeping: UInt64
    }

    /// The last completed trial, for the logs.
    private(set) var lastTrial: Trial?

    init() {}

    /// What a gap changed.
    enum Event: Sendable, Equatable {
        /// A trial began: the connection polls again, to find out.
        case trialBegan
        /// A trial ended with this choice of ``polls``.
        case decided(Trial)
    }

    /// One idle gap of a client in lockstep, in nanoseconds.
    mutating func observe(gap: UInt64) -> Event? {
        switch stage {
        case .trialPolling:
            guard let median = collect(gap) else { return nil }
            stage = .trialSleeping(pollingMedian: median)
            polls = false
            return nil
        case .trialSleeping(let pollingMedian):
            guard let median = collect(gap) else { return nil }
            let trial = Trial(polling: pollingMedian, sleeping: median)
            lastTrial = trial
            polls = Double(pollingMedian) < Self.pollingMustBeat * Double(median)
            stage = .settled(remaining: Self.settledSamples)
            return .decided(trial)
        case .settled(let remaining):
            guard remaining <= 1 else {
                stage = .settled(remaining: remaining - 1)
                return nil
            }
            stage = .trialPolling
            polls = true
            return .trialBegan
        }
    }

    /// Adds a trial's gap; once the trial holds ``trialSamples``, returns their median and
    /// empties it.
    private mutating func collect(_ gap: UInt64) -> UInt64? {
        if samples.isEmpty { samples.reserveCapacity(Self.trialSamples) }
        samples.append(gap)
        guard samples.count >= Self.trialSamples else { return nil }
        samples.sort()
        let median = samples[samples.count / 2]
        samples.removeAll(keepingCapacity: true)
        return median
    }
}
