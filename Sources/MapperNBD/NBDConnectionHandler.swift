import Logging
import MapperCore
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// One client connection: the handshake through ``NBDNegotiation``, then one bio per
/// request, replies written out of order as bios end.
///
/// Threading: everything runs on the channel's event loop; bios end on any thread and hop
/// here (``NBDPendingRequest``; ends from other threads are gathered in ``NBDEndInbox`` and
/// replied to in one task and one flush for each run of them). Reads and writes are
/// submitted inline from the loop, so a request served from the page cache costs no thread
/// hop; a stalled or queued bio just waits; a file backend's `fsync` and `fallocate` run off
/// the loop (the engine's `BlockingIO`). The engine is reached only through the connection's
/// ``ExportSession``.
///
/// When to read the socket, when to flush, whether a request is served, parked or refused,
/// and when the connection ends are ``NBDTransmission``'s decisions; this handler keeps the
/// requests and carries its actions out. A bio refused at the engine's queue limits
/// (`EAGAIN`) is not answered with an error: its request is parked, in order with the ones
/// after it, and the parked requests are tried again each time held I/O is released
/// (``ExportSession/waitForRoom(_:)``).
///
/// Ending: `NBD_CMD_DISC` and server shutdown stop new work (requests after them are
/// answered `ESHUTDOWN`), wait until every outstanding bio has ended or is durably queued,
/// or until ``Limits/closeDeadline``, then close (``NBDCloseDrain``). The connection holds
/// its device open; a forced removal closes it.
final class NBDConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits: Sendable {
        var maxInFlight = 1024
        var maxInFlightBytes = 256 << 20
        /// How long a `DISC` (or a shutdown) waits for requests in flight before it closes.
        var closeDeadline: Duration = .seconds(10)
        /// How long an idle connection keeps its loop polling (``NBDTransmission``; zero: never).
        var busyPoll: Duration = .zero
    }

    /// The shared zeros that `WRITE_ZEROES` with `NO_HOLE` writes from (writes only read it).
    static let zeros = IOBuffer(count: zeroChunk)
    static let zeroChunk = 1 << 20

    /// Parses what the socket delivers (the handler decodes its own bytes: no pipeline hop).
    let decoder: NBDFrameDecoder
    /// The start of a message whose end has not arrived yet, copied out of the socket's buffer.
    private var leftover: ByteBuffer?
    /// Replies written since the last flush (``writeReply(capacity:context:_:)``).
    var unflushed: ByteBuffer?
    var negotiation: NBDNegotiation
    let exports: DeviceExports
    let stats: NBDConnectionStats
    let limits: Limits
    let logger: Logger
    let onTLS: (@Sendable (ChannelHandlerContext) throws -> Void)?
    let sectorLocks: NBDSectorLocks
    var context: ChannelHandlerContext?

    var device: MappedDevice?
    var export: NBDExport?
    /// The door into the engine while transmitting (``ExportSession``).
    var session: ExportSession?
    /// The connection's bios: made without a lock, renewed once a reply has been sent.
    var bios: BioCache?
    var outstanding: [ObjectIdentifier: NBDPendingRequest] = [:]
    /// Ends of ``outstanding`` requests' bios that came from other threads (``takeEnds()``).
    let endInbox = NBDEndInbox()
    /// Unaligned requests being served by read-modify-write (``NBDUnalignedIO``), by number.
    var unaligned: [UInt64: Task<Void, Never>] = [:]
    var unalignedCount: UInt64 = 0
    /// A bio to submit for a request (kept while parked at the queue limits).
    private struct Submission {
        let pending: NBDPendingRequest
        let op: BioOp
        let sector: UInt64
        let sectors: UInt64
        let buffer: IOBuffer?
    }
    /// Submissions refused at the queue limits, oldest first, waiting for room.
    private var parked: [Submission] = []
    /// The wait for room while `parked` is not empty.
    private var roomWait: Task<Void, Never>?
    /// Reading, flushing, parking and ending (``NBDTransmission``).
    var transmission: NBDTransmission
    var closed = false

    init(
        decoder: NBDFrameDecoder, exports: DeviceExports, stats: NBDConnectionStats, limits: Limits,
        tlsRequired: Bool, onTLS: (@Sendable (ChannelHandlerContext) throws -> Void)?,
        sectorLocks: NBDSectorLocks = NBDSectorLocks(), logger: Logger
    ) {
        self.sectorLocks = sectorLocks
        self.decoder = decoder
        self.exports = exports
        self.stats = stats
        self.limits = limits
        let poll = limits.busyPoll.components
        self.transmission = NBDTransmission(
            limits: .init(
                maxInFlight: limits.maxInFlight, maxInFlightBytes: limits.maxInFlightBytes,
                busyPollNanos: UInt64(max(0, poll.seconds)) * 1_000_000_000
                    + UInt64(max(0, poll.attoseconds / 1_000_000_000))))
        self.onTLS = onTLS
        self.logger = logger
        self.negotiation = NBDNegotiation(catalog: exports, tlsRequired: tlsRequired, tlsAvailable: onTLS != nil)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        var greeting = context.channel.allocator.buffer(capacity: 18)
        NBDNegotiation.greeting(into: &greeting)
        context.writeAndFlush(wrapOutboundOut(greeting), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        leftover = nil
        unflushed = nil
        roomWait?.cancel()
        roomWait = nil
        parked = []
        releaseDevice()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let trial = transmission.burstBegan(now: Self.now) {
            logger.debug(
                "busy polling \(transmission.tuner.polls ? "pays" : "does not pay"): median idle gap \(trial.polling / 1000) µs polling, \(trial.sleeping / 1000) µs sleeping",
                metadata: ["connection": "\(stats.id)"])
        }
        var bytes = unwrapInboundIn(data)
        if var held = leftover {
            leftover = nil
            held.writeBuffer(&bytes)
            bytes = held
        }
        do {
            // Each message is handled before the next is parsed: handling an option may
            // change what the decoder expects next.
            while !closed, let message = try decoder.next(&bytes) {
                receive(message, context: context)
            }
        } catch {
            errorCaught(context: context, error: error)
            return
        }
        if bytes.readableBytes > 0 && !closed {
            // A copy of its own: NIO reuses the socket's receive buffer when nobody holds it.
            var tail = context.channel.allocator.buffer(capacity: bytes.readableBytes)
            tail.writeBuffer(&bytes)
            leftover = tail
        }
    }

    private func receive(_ message: NBDClientMessage, context: ChannelHandlerContext) {
        switch message {
        case .clientFlags(let flags):
            var out = ByteBuffer()
            act(negotiation.clientFlags(flags), out: &out, context: context)
        case .option(let code, let data):
            var out = context.channel.allocator.buffer(capacity: 64)
            let action = negotiation.option(code, data: data, into: &out)
            act(action, out: &out, context: context, option: code)
        case .optionTooLong(let code, let length):
            var out = context.channel.allocator.buffer(capacity: 64)
            act(negotiation.optionTooLong(code, length: length, into: &out), out: &out, context: context)
        case .request(let request):
            handle(request, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        perform(transmission.burstEnded(now: Self.now), context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        perform(transmission.writabilityChanged(context.channel.isWritable), context)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !(error is ChannelError) {
            logger.info(
                "nbd connection dropped",
                metadata: ["connection": "\(stats.id)", "client": "\(stats.client)", "error": "\(error)"])
        }
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        perform(transmission.readRequested(), context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is NBDShutdownEvent {
            beginShutdown(context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Transmission

    private func handle(_ request: NBDRequest, context: ChannelHandlerContext) {
        guard let device, let export else { return }
        switch transmission.requestArrived(isDisconnect: request.type == NBD.cmdDisc) {
        case .disconnect(let actions):
            perform(actions, context)
            return
        case .refuse(let error):
            reply(request, error: error, message: "server is shutting down", context: context)
            return
        case .serve:
            break
        }
        if let (error, message) = NBDRequestCheck.problem(
            request, export: export, structuredReplies: negotiation.structuredReplies,
            baseAllocation: negotiation.baseAllocation, alignedOnly: negotiation.blockSizeAgreed)
        {
            reply(request, error: error, message: message, context: context)
            return
        }
        let byteRanged =
            switch request.type {
            case NBD.cmdRead, NBD.cmdWrite, NBD.cmdTrim, NBD.cmdWriteZeroes: true
            default: false
            }
        if byteRanged && (request.offset % 512 != 0 || request.length % 512 != 0)
            && !(request.type == NBD.cmdWriteZeroes && request.has(NBD.cmdFlagFastZero))
        {
            serveUnaligned(request, device: device, export: export, context: context)
            return
        }
        switch request.type {
        case NBD.cmdRead:
            submit(
                request, op: .read,
                buffer: bios?.buffer(count: Int(request.length)) ?? IOBuffer.uninitialized(count: Int(request.length)),
                stage: .reply,
                device: device, context: context)
        case NBD.cmdWrite:
            submit(
                request, op: .write, buffer: request.payload, stage: fuaStage(request), device: device,
                context: context)
        case NBD.cmdFlush:
            submit(request, op: .flush, buffer: nil, stage: .reply, device: device, context: context)
        case NBD.cmdTrim:
            submit(request, op: .discard, buffer: nil, stage: fuaStage(request), device: device, context: context)
        case NBD.cmdWriteZeroes:
            writeZeroes(request, device: device, context: context)
        case NBD.cmdCache:
            reply(request, error: 0, message: "", context: context)
        case NBD.cmdBlockStatus:
            blockStatus(request, device: device, context: context)
        default:
            reply(request, error: NBD.EINVAL, message: "unknown command \(request.type)", context: context)
        }
    }

    private func fuaStage(_ request: NBDRequest) -> NBDPendingRequest.Stage {
        request.has(NBD.cmdFlagFUA) ? .flushThenReply : .reply
    }

    /// `WRITE_ZEROES`: a discard (the range reads as zeros; holes may be punched) unless
    /// `NO_HOLE` asks for allocated zeros, which are written 1 MiB at a time.
    private func writeZeroes(_ request: NBDRequest, device: MappedDevice, context: ChannelHandlerContext) {
        if request.has(NBD.cmdFlagFastZero) {
            reply(request, error: NBD.ENOTSUP, message: "zeroing is not fast here", context: context)
            return
        }
        guard request.has(NBD.cmdFlagNoHole) else {
            submit(request, op: .discard, buffer: nil, stage: fuaStage(request), device: device, context: context)
            return
        }
        let end = request.offset + UInt64(request.length)
        let first = min(UInt64(Self.zeroChunk), UInt64(request.length))
        submit(
            request, op: .write, buffer: Self.zeros, sector: request.offset >> 9, bytes: first,
            stage: .zeroes(next: request.offset + first, end: end, fua: request.has(NBD.cmdFlagFUA)),
            device: device, context: context)
    }

    private func blockStatus(_ request: NBDRequest, device: MappedDevice, context: ChannelHandlerContext) {
        let limit = request.has(NBD.cmdFlagReqOne) ? 1 : 1024
        // Whole sectors; an unaligned range (minimum block size 1) is widened to them.
        let covering = NBDUnalignedSpan(offset: request.offset, length: UInt64(request.length)).covering
        var extents = device.allocation(
            sector: covering.lowerBound, sectors: UInt64(covering.count), limit: limit)
        if extents.count > limit { extents.removeLast(extents.count - limit) }
        writeReply(capacity: 24 + 8 * extents.count, context: context) { out in
            NBDReply.blockStatus(
                handle: request.handle, contextID: NBDNegotiation.baseAllocationID, extents: extents,
                skip: Int(request.offset % 512), into: &out)
        }
    }

    private func submit(
        _ request: NBDRequest, op: BioOp, buffer: IOBuffer?, stage: NBDPendingRequest.Stage, device: MappedDevice,
        context: ChannelHandlerContext
    ) {
        submit(
            request, op: op, buffer: buffer, sector: request.offset >> 9,
            bytes: op == .flush ? 0 : UInt64(request.length), stage: stage, device: device, context: context)
    }

    private func submit(
        _ request: NBDRequest, op: BioOp, buffer: IOBuffer?, sector: UInt64, bytes: UInt64,
        stage: NBDPendingRequest.Stage, device: MappedDevice, context: ChannelHandlerContext
    ) {
        let pending = NBDPendingRequest(
            request: request, connection: NIOLoopBound(self, eventLoop: context.eventLoop), inbox: endInbox,
            stage: stage)
        outstanding[ObjectIdentifier(pending)] = pending
        transmission.started(bytes: Int(request.length))
        stats.inFlight.add(1, ordering: .relaxed)
        issue(pending, op: op, sector: op == .flush ? 0 : sector, sectors: bytes >> 9, buffer: buffer, device: device)
    }

    /// Submits one bio for `pending`. A submission refused at the queue limits is parked (as
    /// is every one after it while any is parked); any other refusal ends it at once.
    private func issue(
        _ pending: NBDPendingRequest, op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?,
        device: MappedDevice
    ) {
        let submission = Submission(pending: pending, op: op, sector: sector, sectors: sectors, buffer: buffer)
        if transmission.mustPark || !submit(submission, device: device) {
            parked.append(submission)
            transmission.parkedOne()
        }
    }

    /// Submits a bio for `submission`; returns `false` if the queue limits refused it (then
    /// nothing was submitted and the wait for room has begun).
    private func submit(_ submission: Submission, device: MappedDevice) -> Bool {
        guard let session, let bios else {
            bioEnded(submission.pending, error: .ENODEV)
            return true
        }
        let bio = bios.makeBio(
            op: submission.op, sector: submission.sector, sectors: submission.sectors, buffer: submission.buffer,
            endIO: submission.pending)
        submission.pending.bio = bio
        switch session.submit(bio) {
        case .submitted:
            break
        case .refused(let ticket):
            submission.pending.bio = nil
            waitForRoom(ticket, session: session)
            return false
        case .failed(let errno):
            bioEnded(submission.pending, error: errno)
        }
        return true
    }

    private func waitForRoom(_ ticket: ExportSession.RoomTicket, session: ExportSession) {
        guard roomWait == nil, let context else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        roomWait = Task {
            let room = await session.waitForRoom(ticket)
            handler.eventLoop.execute {
                handler.value.roomWait = nil
                if room { handler.value.retryParked() }
            }
        }
    }

    /// Submits parked requests in order until one is refused again.
    private func retryParked() {
        guard let device, !closed else { return }
        while let first = parked.first {
            guard submit(first, device: device) else { return }
            parked.removeFirst()
            let actions = transmission.unparkedOne()
            if let context { perform(actions, context) }
        }
    }

    /// Answers the parked requests with `ESHUTDOWN` (the connection is ending).
    func abandonParked(_ context: ChannelHandlerContext) {
        roomWait?.cancel()
        roomWait = nil
        let abandoned = parked
        parked = []
        for submission in abandoned {
            perform(transmission.unparkedOne(), context)
            guard outstanding.removeValue(forKey: ObjectIdentifier(submission.pending)) != nil else { continue }
            reply(submission.pending.request, error: NBD.ESHUTDOWN, message: "connection is closing", context: context)
            perform(transmission.ended(bytes: Int(submission.pending.request.length), now: Self.now), context)
            stats.inFlight.add(-1, ordering: .relaxed)
        }
    }

    /// Carries out the ends posted to ``endInbox`` (on the event loop), their replies flushed
    /// together.
    func takeEnds() {
        transmission.endBatchBegan()
        for end in endInbox.take() { bioEnded(end.request, error: end.error) }
        let actions = transmission.endBatchEnded(now: Self.now)
        if let context, !closed { perform(actions, context) }
    }

    /// A bio of `pending` ended (on the event loop).
    func bioEnded(_ pending: NBDPendingRequest, error: Errno?) {
        if error == nil, let device {
            switch pending.stage {
            case .reply:
                break
            case .flushThenReply:
                pending.stage = .reply
                issue(pending, op: .flush, sector: 0, sectors: 0, buffer: nil, device: device)
                return
            case .zeroes(let next, let end, let fua):
                if next < end {
                    let bytes = min(UInt64(Self.zeroChunk), end - next)
                    pending.stage = .zeroes(next: next + bytes, end: end, fua: fua)
                    issue(
                        pending, op: .write, sector: next >> 9, sectors: bytes >> 9, buffer: Self.zeros, device: device)
                    return
                }
                if fua {
                    pending.stage = .reply
                    issue(pending, op: .flush, sector: 0, sectors: 0, buffer: nil, device: device)
                    return
                }
            }
        }
        guard outstanding.removeValue(forKey: ObjectIdentifier(pending)) != nil else { return }
        let request = pending.request
        stats.inFlight.add(-1, ordering: .relaxed)
        var bio = pending.bio
        pending.bio = nil
        // The clock reading the bio's end was counted with, if it has one.
        let endedNanos = bio?.completedNanos.map(UInt64.init) ?? Self.now
        guard let context, !closed else {
            _ = transmission.ended(bytes: Int(request.length), now: endedNanos)
            return
        }
        // The buffer lives until the reply has copied it.
        let buffer = bio?.buffer
        withExtendedLifetime(buffer) {
            replyEnded(
                request, error: error, data: buffer.map { UnsafeRawPointer($0.base) }, endedNanos: endedNanos,
                context: context)
        }
        bios?.recycle(&bio)
    }

    /// Carries out the transmission machine's actions.
    func perform(_ actions: [NBDTransmission.Action], _ context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .read: context.read()
            case .flush:
                if let replies = unflushed {
                    unflushed = nil
                    context.write(wrapOutboundOut(replies), promise: nil)
                }
                context.flush()
            case .drainThenClose: drainThenClose(context)
            case .close: context.close(promise: nil)
            case .pollTick:
                // Queued on the loop, not run here: the loop looks at its sockets (without
                // blocking, as a task is pending) before it runs the tick.
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                context.eventLoop.execute { handler.value.pollTick() }
            }
        }
    }

    /// The busy-poll tick (``NBDTransmission/pollTick(now:)``).
    private func pollTick() {
        guard let context, !closed else { return }
        // Give way to any thread waiting for this CPU: a client woken by our reply may have
        // been placed here, expecting this thread to sleep.
        sched_yield()
        perform(transmission.pollTick(now: Self.now), context)
    }

    /// The engine's monotonic clock in nanoseconds, the time ``NBDTransmission`` works in (the
    /// same as a bio's ``Bio/completedNanos``, which a request's end reuses).
    static var now: UInt64 { UInt64(MonotonicClock.now()) }

}

/// Sent down a connection's pipeline when the server begins its graceful shutdown.
struct NBDShutdownEvent: Sendable {}
