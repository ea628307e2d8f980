import Synchronization

/// dm-raid's messages (`resync_rate`, `frozen`, `resync`), the persisted run-time state and
/// the progress a move job samples.
extension MirrorTarget {
    /// Messages (dm-raid1 takes none; these follow dm-raid's words):
    /// - `resync_rate <bytes_per_second>`: paces resync (0: as fast as the mirrors go); the
    ///   next copy starts at once and is paced at the new rate;
    /// - `frozen`: no new resync copy starts (the one in flight ends);
    /// - `resync`: resync goes on after `frozen`.
    ///
    /// Both are the target's run-time state (``persistentState``): a restart restores them
    /// before resync starts again.
    public func message(_ argv: [String]) throws -> String {
        switch argv.first {
        case "resync_rate" where argv.count == 2:
            guard let rate = UInt64(argv[1]) else { break }
            // The same rate again changes nothing (the run's pace is kept).
            guard
                state.withLock({ state in
                    guard state.pacer.bytesPerSecond != rate else { return false }
                    state.pacer.setRate(rate)
                    return true
                })
            else { return "" }
            context.persistState()
            // A copy waiting for its turn at the old rate starts now (the timer's later pump
            // finds a copy in flight and does nothing).
            pumpResyncLater()
            return ""
        case "frozen" where argv.count == 1:
            state.withLock { $0.frozen = true }
            context.persistState()
            return ""
        case "resync" where argv.count == 1:
            state.withLock { $0.frozen = false }
            context.persistState()
            pumpResyncLater()
            return ""
        default:
            break
        }
        throw MapperError(.EINVAL, "mirror messages: resync_rate <bytes_per_second>, frozen, resync")
    }

    /// The resync rate and whether resync is frozen (`resyncRate`, `frozen` as `"1"`/`"0"`).
    public var persistentState: [String: String]? {
        state.withLock { ["resyncRate": "\($0.pacer.bytesPerSecond)", "frozen": $0.frozen ? "1" : "0"] }
    }

    public func restore(_ saved: [String: String]) {
        state.withLock { state in
            if let rate = saved["resyncRate"].flatMap(UInt64.init) { state.pacer.setRate(rate) }
            if let frozen = saved["frozen"] { state.frozen = frozen == "1" }
        }
    }

    /// Resync's progress: regions in sync, regions in all, and the legs that are dead.
    public var progress: (inSync: Int, regions: Int, deadLegs: Set<Int>) {
        state.withLock { ($0.hash.inSyncCount, regionCount, $0.dead) }
    }

    /// Whether resync is frozen (`frozen` message).
    public var isFrozen: Bool { state.withLock { $0.frozen } }

    /// The resync rate in bytes per second (0: unlimited).
    public var resyncRate: UInt64 { state.withLock { $0.pacer.bytesPerSecond } }
}
