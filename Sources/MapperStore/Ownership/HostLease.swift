/// A host's lease as a pure state machine: when to renew, when to fence itself, when the
/// fence may lift. No clock, no database: the owner (the server's lease keeper) feeds it the
/// time and the outcome of each renewal and carries out the actions it returns.
///
/// **The timings, and why no write is acknowledged by two owners.** `L` is the lease.
/// - The host renews every `L/3` (and again at once after a failed attempt, at the next tick).
///   The database sets `lease_expires = now() + L` by its own clock when the renewal runs.
/// - The host remembers when it *sent* each renewal (`s`, its monotonic clock) and, once the
///   renewal is confirmed, may answer I/O until `s + L - L/6` (``Timing/serveFor``). The
///   database ran the renewal after `s`, so the real expiry `E` is at least `s + L`: the host
///   fences at least `L/6` before `E`, which covers a tick of lateness (`L/12`) and clock rate
///   differences far beyond any real clock's.
/// - Another host may claim the device only when the database's `now()` is past
///   `lease_expires + grace`, with `grace = L/3` of the owner's lease (``Timing/grace``), and
///   the claim bumps the epoch under a row lock that every commit of the owner also takes.
/// So the owner's last acknowledgement comes before `E`, and the claimant's first after
/// `E + grace`: the two never overlap, and a commit of the old owner either happened before
/// the claim or is refused by the database (stale epoch). A write the owner issued to a
/// backend before fencing has the grace (`L/3`) plus the margin (`L/6`) to land.
///
/// A fenced host whose renewal succeeds again lifts the fence only after the owner checked
/// that it still owns its devices at the epochs it knows (``Action/unfence``: the owner
/// compares what the renewal returned); devices claimed meanwhile are dropped.
public struct HostLease: Sendable, Equatable {
    /// The durations derived from the lease.
    public struct Timing: Sendable, Equatable {
        public let lease: Duration
        public init(lease: Duration) { self.lease = lease }
        /// How often a renewal is sent.
        public var renewEvery: Duration { lease / 3 }
        /// How long after sending a confirmed renewal the host may answer I/O.
        public var serveFor: Duration { lease - lease / 6 }
        /// How long after the lease expired another host may claim the owner's devices.
        public var grace: Duration { lease / 3 }
        /// How often the keeper feeds ``HostLease/tick(now:)``.
        public var tick: Duration { lease / 12 }
    }

    /// What the owner carries out.
    public enum Action: Sendable, Equatable {
        /// Send a renewal now; feed ``renewed(sentAt:now:)`` or ``renewalFailed()``.
        case renew
        /// Hold I/O on every device (held, not failed).
        case fence
        /// The lease is confirmed again: check ownership, drop lost devices, lift the fence.
        case unfence
    }

    public let timing: Timing
    /// When the pending renewal was sent (nil: none pending).
    public private(set) var renewalSentAt: ContinuousClock.Instant?
    /// When the last renewal was sent (nil: none yet).
    public private(set) var lastSent: ContinuousClock.Instant?
    /// Until when the host may answer I/O (nil: never confirmed).
    public private(set) var servesUntil: ContinuousClock.Instant?
    public private(set) var fenced = false

    /// A lease acquired by a renewal sent at `acquiredAt` (start-up takes the lease before
    /// serving).
    public init(timing: Timing, acquiredAt: ContinuousClock.Instant) {
        self.timing = timing
        lastSent = acquiredAt
        servesUntil = acquiredAt + timing.serveFor
    }

    /// Time passed: fence when the lease is about to run out, renew when due.
    public mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        if !fenced, let until = servesUntil, now >= until {
            fenced = true
            actions.append(.fence)
        }
        if renewalSentAt == nil, lastSent.map({ now >= $0 + timing.renewEvery }) ?? true {
            renewalSentAt = now
            lastSent = now
            actions.append(.renew)
        }
        return actions
    }

    /// The pending renewal succeeded: the host may serve until `serveFor` after it was sent
    /// (if that is still ahead of `now`).
    public mutating func renewed(now: ContinuousClock.Instant) -> [Action] {
        guard let sent = renewalSentAt else { return [] }
        renewalSentAt = nil
        let until = sent + timing.serveFor
        if servesUntil.map({ until > $0 }) ?? true { servesUntil = until }
        guard fenced, now < until else { return [] }
        fenced = false
        return [.unfence]
    }

    /// The pending renewal failed (the database is unreachable, or slow): try again at the
    /// next tick; the fence comes when ``servesUntil`` passes.
    public mutating func renewalFailed() {
        renewalSentAt = nil
        lastSent = nil
    }
}
