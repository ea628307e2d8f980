import Testing

@testable import MapperNBD

/// ``NBDBusyPollTuner`` as tables of gaps and choices, and its schedule of trials.
@Suite("NBD busy-poll tuner")
struct NBDBusyPollTunerTests {
    /// Runs one whole trial: `polling` gaps first, then `sleeping` gaps (each cycled to
    /// ``NBDBusyPollTuner/trialSamples``). Returns the tuner and what the last gap reported.
    static func trial(
        _ tuner: inout NBDBusyPollTuner, polling: [UInt64], sleeping: [UInt64]
    ) -> NBDBusyPollTuner.Event? {
        let n = NBDBusyPollTuner.trialSamples
        for i in 0..<n {
            #expect(tuner.polls, "polling during the first half of a trial")
            #expect(tuner.observe(gap: polling[i % polling.count]) == nil)
        }
        var last: NBDBusyPollTuner.Event?
        for i in 0..<n {
            #expect(!tuner.polls, "sleeping during the second half of a trial")
            last = tuner.observe(gap: sleeping[i % sleeping.count])
            if i < n - 1 { #expect(last == nil) }
        }
        return last
    }

    @Test(
        "the choice: polling must beat sleeping's median gap by 10 %; medians, so pauses do not decide",
        arguments: [
            // (gaps while polling, gaps while sleeping, keeps polling)
            ([20_000], [60_000], true),  // polling saves a wake-up
            ([60_000], [30_000], false),  // polling takes the client's CPU
            ([28_000], [30_000], false),  // within 10 %: not worth the CPU
            ([26_000], [30_000], true),
            ([30_000], [30_000], false),
            // One gap in four is a 10 ms pause of the client's own, in either mode.
            ([20_000, 20_000, 20_000, 10_000_000], [40_000], true),
            ([40_000], [20_000, 20_000, 20_000, 10_000_000], false),
        ] as [([UInt64], [UInt64], Bool)])
    func choice(polling: [UInt64], sleeping: [UInt64], keepsPolling: Bool) {
        var tuner = NBDBusyPollTuner()
        let event = Self.trial(&tuner, polling: polling, sleeping: sleeping)
        let trial = NBDBusyPollTuner.Trial(polling: polling.min()!, sleeping: sleeping.min()!)
        #expect(event == .decided(trial))
        #expect(tuner.lastTrial == trial)
        #expect(tuner.polls == keepsPolling)
        #expect(tuner.stage == .settled(remaining: NBDBusyPollTuner.settledSamples))
    }

    @Test("the schedule: the choice holds for the settled gaps, then a new trial polls again")
    func schedule() {
        var tuner = NBDBusyPollTuner()
        #expect(tuner.polls && tuner.stage == .trialPolling, "a new connection tries polling first")
        _ = Self.trial(&tuner, polling: [60_000], sleeping: [30_000])
        #expect(!tuner.polls)
        for _ in 0..<(NBDBusyPollTuner.settledSamples - 1) {
            #expect(tuner.observe(gap: 1_000) == nil)
            #expect(!tuner.polls, "settled: short gaps do not change the choice")
        }
        #expect(tuner.observe(gap: 1_000) == .trialBegan)
        #expect(tuner.polls && tuner.stage == .trialPolling)
        // The machine changed meanwhile: now polling pays.
        let event = Self.trial(&tuner, polling: [15_000], sleeping: [45_000])
        #expect(event == .decided(.init(polling: 15_000, sleeping: 45_000)))
        #expect(tuner.polls)
    }
}
