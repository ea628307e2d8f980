/// One connection's transmission phase as a pure state machine: when to read the socket,
/// when to flush replies, whether a request is served, parked or refused, and when the
/// connection ends. It counts requests and bytes; the handler keeps the requests themselves
/// and carries out the actions. No channel, no engine; tested as tables.
///
/// Backpressure: reading stops while ``Limits/maxInFlight`` requests or
/// ``Limits/maxInFlightBytes`` bytes are in flight, while any request is parked at the
/// engine's queue limits, while the socket is not writable, and once draining; a read the
/// channel asked for meanwhile is remembered and made when all of those clear. Replies are
/// flushed at the end of each read burst and of each batch of ends that came from other
/// threads (``endBatchBegan()``), and at once when one is written outside both or while
/// draining.
///
/// Busy polling: when the connection falls idle (nothing in flight, its replies flushed), it
/// keeps its event loop polling for ``Limits/busyPollNanos`` before the loop may sleep: one
/// ``Action/pollTick`` after another, each of which lets the loop look at every socket
/// without blocking (other connections are served between ticks). A client that sends its
/// next request within the window finds the server's thread awake, which saves the wake-up of
/// a sleeping CPU, the larger part of a round trip at queue depth 1 on a virtual machine. A
/// request, a drain or the end of the window stops it; going idle again restarts it. Only a
/// client in lockstep is polled for: one request between idle periods (queue depth 1; a
/// deeper queue keeps the connection busy on its own, and polling would only take CPU from
/// the client), and back within twice the window the last time (a client that pauses longer
/// costs no spinning; the first idle period polls, to find out). Whether polling pays at all
/// is measured per connection by ``NBDBusyPollTuner`` on those lockstep gaps: it depends on
/// the machine, and where it does not pay the connection sleeps. Times are the engine's
/// monotonic clock (`MonotonicClock`) in nanoseconds, read only when a decision needs them
/// (never while a connection has requests in flight, nor with busy polling off); a request's
/// end is the time its bio's end was counted with, not a new reading.
///
/// Ending: `DISC` and a server shutdown both drain (parked requests are answered `ESHUTDOWN`,
/// in-flight ones settle until the close deadline, then the connection closes); after a
/// shutdown began, new requests are answered `ESHUTDOWN` until the drain closes the
/// connection. A shutdown before transmission began closes at once.
struct NBDTransmission: Sendable, Equatable {
    struct Limits: Sendable, Equatable {
        var maxInFlight = 1024
        var maxInFlightBytes = 256 << 20
        /// How long an idle connection keeps its loop polling (0: never).
        var busyPollNanos: UInt64 = 0
    }

    /// What the handler does.
    enum Action: Sendable, Equatable {
        /// Ask the channel for more bytes.
        case read
        /// Flush the replies written so far.
        case flush
        /// Answer the parked requests `ESHUTDOWN` (each ends with ``ended(bytes:)``), then
        /// wait for the in-flight ones to settle until the close deadline, then close.
        case drainThenClose
        /// Close now.
        case close
        /// Run ``pollTick(now:)`` on the next turn of the event loop.
        case pollTick
    }

    /// What to do with a decoded request.
    enum Decision: Sendable, Equatable {
        /// Serve it: count it with ``started(bytes:)`` and submit (or park) its bio.
        case serve
        /// Answer it at once with this error and count nothing.
        case refuse(UInt32)
        /// `DISC`: carry out these actions.
        case disconnect([Action])
    }

    let limits: Limits
    private(set) var inFlight = 0
    private(set) var inFlightBytes = 0
    private(set) var parked = 0
    private(set) var writable = true
    private(set) var readPending = false
    private(set) var inReadBurst = false
    /// A batch of bio ends that arrived from other threads is being replied to.
    private(set) var inEndBatch = false
    private(set) var needsFlush = false
    private(set) var draining = false
    private(set) var shuttingDown = false
    private(set) var transmitting = false
    /// The end of the busy-poll window, while one is open.
    private(set) var pollDeadline: UInt64?
    /// A ``Action/pollTick`` is scheduled.
    private(set) var pollScheduled = false
    /// When the connection last fell idle, until its next request.
    private(set) var idleSince: UInt64?
    /// How long the client took to send a request after the connection last fell idle.
    private(set) var lastIdleGap: UInt64 = 0
    /// Requests served since the connection last fell idle.
    private(set) var requestsSinceIdle = 0
    /// The current idle period follows a busy period of one request (its gap is a sample).
    private(set) var idleIsLockstep = false
    /// Whether polling pays on this connection, measured on its lockstep gaps.
    private(set) var tuner = NBDBusyPollTuner()

    init(limits: Limits = Limits()) { self.limits = limits }

    private var canRead: Bool {
        !draining && parked == 0 && inFlight < limits.maxInFlight && inFlightBytes < limits.maxInFlightBytes
            && writable
    }

    private mutating func readIfPending() -> [Action] {
        guard readPending, canRead else { return [] }
        readPending = false
        return [.read]
    }

    private mutating func flushIfNeeded() -> [Action] {
        guard needsFlush else { return [] }
        needsFlush = false
        return [.flush]
    }

    private var isIdle: Bool {
        transmitting && !draining && !shuttingDown && inFlight == 0 && parked == 0 && !needsFlush && !inReadBurst
            && !inEndBatch
    }

    /// Opens the busy-poll window if the connection falls idle at `now` (it was not already)
    /// and its client is in lockstep.
    private mutating func pollIfIdle(now: () -> UInt64) -> [Action] {
        guard limits.busyPollNanos > 0, isIdle, idleSince == nil else { return [] }
        let now = now()
        idleSince = now
        let lockstep = requestsSinceIdle == 1
        requestsSinceIdle = 0
        idleIsLockstep = lockstep
        guard lockstep, tuner.polls, lastIdleGap <= 2 * limits.busyPollNanos else { return [] }
        pollDeadline = now &+ limits.busyPollNanos
        guard !pollScheduled else { return [] }
        pollScheduled = true
        return [.pollTick]
    }

    /// A scheduled tick runs at `now`: poll again while the connection is idle and the window
    /// open.
    mutating func pollTick(now: UInt64) -> [Action] {
        pollScheduled = false
        guard isIdle, let deadline = pollDeadline, now < deadline else {
            pollDeadline = nil
            return []
        }
        pollScheduled = true
        return [.pollTick]
    }

    /// The handshake ended in transmission.
    mutating func began() { transmitting = true }

    /// The channel asks for bytes: read now, or once reading may resume.
    mutating func readRequested() -> [Action] {
        guard canRead else {
            readPending = true
            return []
        }
        return [.read]
    }

    /// A read burst begins (bytes arrived) at `now`. Returns the tuner's trial when this gap
    /// completed one (for the logs).
    @discardableResult
    mutating func burstBegan(now: @autoclosure () -> UInt64) -> NBDBusyPollTuner.Trial? {
        inReadBurst = true
        guard let since = idleSince else { return nil }
        let gap = now() &- since
        lastIdleGap = gap
        idleSince = nil
        guard idleIsLockstep else { return nil }
        idleIsLockstep = false
        switch tuner.observe(gap: gap) {
        case .trialBegan:
            // A trial of polling starts afresh: its first idle period polls, to find out.
            lastIdleGap = 0
            return nil
        case .decided(let trial):
            if tuner.polls { lastIdleGap = 0 }
            return trial
        case nil: return nil
        }
    }

    /// The read burst ended at `now`: flush what it wrote (and poll, if that left the
    /// connection idle).
    mutating func burstEnded(now: @autoclosure () -> UInt64) -> [Action] {
        inReadBurst = false
        let flush = flushIfNeeded()
        return flush + pollIfIdle(now: now)
    }

    /// The handler begins replying to a batch of bio ends that other threads posted (a mirror
    /// leg's queue, a remote backend): their replies are flushed together at
    /// ``endBatchEnded(now:)``, one write to the socket for the batch, as a read burst's are.
    mutating func endBatchBegan() { inEndBatch = true }

    /// The batch of ends was replied to at `now`: flush (and poll, if that left the connection
    /// idle), unless a read burst under way will flush.
    mutating func endBatchEnded(now: @autoclosure () -> UInt64) -> [Action] {
        inEndBatch = false
        guard !inReadBurst else { return [] }
        let flush = flushIfNeeded()
        return flush + pollIfIdle(now: now)
    }

    /// A request arrived (`isDisconnect` for `DISC`).
    mutating func requestArrived(isDisconnect: Bool) -> Decision {
        if isDisconnect {
            guard !draining else { return .disconnect([]) }
            draining = true
            return .disconnect(flushIfNeeded() + [.drainThenClose])
        }
        if shuttingDown || draining { return .refuse(NBD.ESHUTDOWN) }
        requestsSinceIdle += 1
        return .serve
    }

    /// A served request is now in flight with `bytes` of payload.
    mutating func started(bytes: Int) {
        inFlight += 1
        inFlightBytes += bytes
    }

    /// Whether a new bio must wait behind parked ones (the order of requests is kept).
    var mustPark: Bool { parked > 0 }

    /// A bio was parked at the engine's queue limits (refused, or behind a refused one).
    mutating func parkedOne() { parked += 1 }

    /// A parked bio was submitted at last (or answered while draining).
    mutating func unparkedOne() -> [Action] {
        precondition(parked > 0, "nothing parked")
        parked -= 1
        return readIfPending()
    }

    /// A reply was written: flush it now unless the read burst or the batch of ends will.
    mutating func wrote() -> [Action] {
        needsFlush = true
        return draining || !(inReadBurst || inEndBatch) ? flushIfNeeded() : []
    }

    /// A request in flight ended at `now` (its reply, if any, is written with ``wrote()``
    /// first).
    mutating func ended(bytes: Int, now: @autoclosure () -> UInt64) -> [Action] {
        precondition(inFlight > 0, "a request ended that was not in flight")
        inFlight -= 1
        inFlightBytes -= bytes
        let read = readIfPending()
        return read + pollIfIdle(now: now)
    }

    /// The socket became writable or not.
    mutating func writabilityChanged(_ writable: Bool) -> [Action] {
        self.writable = writable
        return writable ? readIfPending() : []
    }

    /// The server begins its graceful shutdown.
    mutating func shutdown() -> [Action] {
        shuttingDown = true
        guard transmitting else { return [.close] }
        guard !draining else { return [] }
        draining = true
        return flushIfNeeded() + [.drainThenClose]
    }
}
