import Logging
import MapperCore
import NIOCore
import NIOPosix
import Synchronization

/// One NBD client connection in the transmission phase: fixed newstyle, negotiated with
/// `NBD_OPT_STRUCTURED_REPLY` (when the server has it) and `NBD_OPT_GO`.
///
/// Many requests are in flight at once: ``submit(_:)`` registers the request under a fresh
/// handle and writes it (from any thread, no lock held across the network); replies, in any
/// order, are matched by handle in ``NBDClientDecoder`` on the channel's event loop, which
/// copies read data straight into the request's buffer and calls its completion there.
///
/// Failure contract: when the connection closes (the server went away, a protocol error, a
/// request past ``NBDClientConfiguration/requestTimeout``, or ``close()``), every request in
/// flight ends with EIO and later ones end with EIO at once. Nothing is retried here; that is
/// the multipath target's job.
public final class NBDClientConnection: Sendable {
    public let info: NBDExportInfo
    let channel: any Channel
    private let state: Mutex<State>
    private let nextHandle = Atomic<UInt64>(1)
    private let requestTimeout: Duration

    struct Entry {
        var request: BlockRequest
        var deadline: NIODeadline
        /// The first error chunk of a structured reply.
        var error: Errno?
    }

    private struct State {
        var inFlight: [UInt64: Entry] = [:]
        var open = true
        var sweep: RepeatedTask?
    }

    init(channel: any Channel, info: NBDExportInfo, requestTimeout: Duration) {
        self.channel = channel
        self.info = info
        self.requestTimeout = requestTimeout
        self.state = Mutex(State())
    }

    /// Connects to `uri`, negotiates and returns the connection in transmission phase.
    /// Errors: ECONNREFUSED, EHOSTUNREACH, ENOENT (no such socket or export), ETIMEDOUT, EINVAL
    /// (a size that is not a multiple of 512), ENOTSUP (an oldstyle or TLS-only server), EIO.
    public static func connect(
        to uri: NBDURI, configuration: NBDClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> NBDClientConnection {
        // Name resolution, connecting and the handshake together get the connect timeout.
        let deadline = ContinuousClock.now + configuration.connectTimeout
        guard let connection = try await withDeadline(deadline, { try await open(uri, configuration: configuration, group: group) })
        else { throw MapperError(.ETIMEDOUT, "\(uri): cannot connect within \(configuration.connectTimeout)") }
        return connection
    }

    private static func open(
        _ uri: NBDURI, configuration: NBDClientConfiguration, group: any EventLoopGroup
    ) async throws -> NBDClientConnection {
        let handshake = group.any().makePromise(of: NBDExportInfo.self)
        let decoder = NBDClientDecoder(exportName: uri.exportName, handshake: handshake)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.init(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                }
            }
        let channel: any Channel
        do {
            switch uri.address {
            case .tcp(let host, let port):
                let address = try await resolve(host: host, port: port)
                channel = try await bootstrap.connect(to: address).get()
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch {
            handshake.fail(error)
            throw connectError(error, uri: uri)
        }
        channel.closeFuture.whenComplete { _ in decoder.connectionClosed() }
        let timeout = channel.eventLoop.scheduleTask(in: .init(configuration.connectTimeout)) {
            handshake.fail(MapperError(.ETIMEDOUT, "\(uri): no handshake within \(configuration.connectTimeout)"))
            channel.close(promise: nil)
        }
        let info: NBDExportInfo
        do {
            info = try await handshake.futureResult.get()
            timeout.cancel()
        } catch {
            timeout.cancel()
            try? await channel.close()
            throw connectError(error, uri: uri)
        }
        let connection = NBDClientConnection(
            channel: channel, info: info, requestTimeout: configuration.requestTimeout)
        try await channel.eventLoop.submit {
            decoder.connection = connection
            connection.startSweep()
        }.get()
        channel.closeFuture.whenComplete { _ in connection.failAll() }
        if !channel.isActive { connection.failAll() }
        // The caller gave up (its timeout): nobody will use or close this connection.
        if Task.isCancelled {
            connection.close()
            throw CancellationError()
        }
        return connection
    }

    public var isOpen: Bool { state.withLock { $0.open } }
    /// Requests waiting for their reply.
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    /// Sends `request`; its completion is called exactly once (see the type's contract).
    public func submit(_ request: BlockRequest) {
        let command: UInt16
        switch request.op {
        case .read: command = NBD.cmdRead
        case .write: command = NBD.cmdWrite
        case .flush:
            // A server without a write cache needs no flush.
            guard info.has(NBD.flagSendFlush) else { return request.endIO(nil) }
            command = NBD.cmdFlush
        case .discard:
            if info.has(NBD.flagSendTrim) {
                command = NBD.cmdTrim
            } else if info.has(NBD.flagSendWriteZeroes) {
                command = NBD.cmdWriteZeroes
            } else {
                return request.endIO(.ENOTSUP)
            }
        }
        if request.op == .write, info.has(NBD.flagReadOnly) {
            return request.endIO(.EPERM)
        }
        let handle = nextHandle.add(1, ordering: .relaxed).oldValue
        let payload = request.op == .write ? request.byteCount : 0
        var buffer = channel.allocator.buffer(capacity: 28 + payload)
        buffer.writeInteger(NBD.requestMagic)
        buffer.writeInteger(UInt16(0))
        buffer.writeInteger(command)
        buffer.writeInteger(handle)
        buffer.writeInteger(request.op == .flush ? 0 : request.sector << 9)
        buffer.writeInteger(request.op == .flush ? 0 : UInt32(request.byteCount))
        if payload > 0, let data = request.buffer {
            buffer.writeBytes(UnsafeRawBufferPointer(start: data.pointer(at: request.bufferOffset), count: payload))
        }
        let deadline = NIODeadline.now() + .init(requestTimeout)
        let accepted = state.withLock { state -> Bool in
            guard state.open else { return false }
            state.inFlight[handle] = Entry(request: request, deadline: deadline)
            return true
        }
        guard accepted else { return request.endIO(.EIO) }
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Closes the connection; requests in flight end with EIO.
    public func close() {
        channel.close(promise: nil)
        failAll()
    }

    // MARK: For the decoder (on the event loop)

    func entry(_ handle: UInt64) -> Entry? {
        state.withLock { $0.inFlight[handle] }
    }

    func noteError(_ handle: UInt64, _ error: Errno) {
        state.withLock { state in
            if state.inFlight[handle]?.error == nil { state.inFlight[handle]?.error = error }
        }
    }

    /// Ends the request with `error`, or with the first error its chunks carried.
    func complete(_ handle: UInt64, _ error: Errno?) {
        guard let entry = state.withLock({ $0.inFlight.removeValue(forKey: handle) }) else { return }
        entry.request.endIO(error ?? entry.error)
    }

    /// Ends every request in flight with EIO and refuses new ones.
    func failAll() {
        let entries = state.withLock { state -> [Entry] in
            state.open = false
            state.sweep?.cancel()
            state.sweep = nil
            defer { state.inFlight = [:] }
            return Array(state.inFlight.values)
        }
        for entry in entries { entry.request.endIO(.EIO) }
    }

    private func startSweep() {
        let every = max(Duration.milliseconds(10), requestTimeout / 4)
        let task = channel.eventLoop.scheduleRepeatedTask(initialDelay: .init(every), delay: .init(every)) {
            [weak self] _ in self?.sweep()
        }
        state.withLock { $0.sweep = task }
    }

    /// Closes the connection when a request has waited past its deadline.
    private func sweep() {
        let now = NIODeadline.now()
        let late = state.withLock { state in state.inFlight.values.contains { $0.deadline < now } }
        if late { close() }
    }

    private static func resolve(host: String, port: Int) async throws -> SocketAddress {
        if let address = try? SocketAddress(ipAddress: host, port: port) { return address }
        // Name resolution blocks: run it on the thread pool, never on an event loop.
        return try await NIOThreadPool.singleton.runIfActive {
            try SocketAddress.makeAddressResolvingHost(host, port: port)
        }
    }

    /// A connection error as the engine's errno, naming the URI.
    static func connectError(_ error: any Error, uri: NBDURI) -> MapperError {
        if let error = error as? MapperError {
            return MapperError(error.errno, "\(uri): \(error.message)")
        }
        var code: Int32?
        if let error = error as? IOError { code = error.errnoCode }
        if let error = error as? NIOConnectionError {
            code = error.connectionErrors.compactMap { ($0.error as? IOError)?.errnoCode }.first
            if code == nil, error.dnsAAAAError != nil || error.dnsAError != nil { code = Errno.EHOSTUNREACH.rawValue }
        }
        if case ChannelError.connectTimeout = error as? ChannelError ?? .ioOnClosedChannel { code = Errno.ETIMEDOUT.rawValue }
        if let error = error as? SocketAddressError {
            return MapperError(.EHOSTUNREACH, "\(uri): cannot resolve host: \(error)")
        }
        guard let code else { return MapperError(.EIO, "\(uri): cannot connect: \(error)") }
        let errno = Errno(rawValue: code)
        let known: Set<Errno> = [.ECONNREFUSED, .EHOSTUNREACH, .ETIMEDOUT, .ENOENT, .EACCES]
        return MapperError(known.contains(errno) ? errno : .EIO, "\(uri): cannot connect: \(error)")
    }
}
