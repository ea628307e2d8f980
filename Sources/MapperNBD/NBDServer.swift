import Logging
import MapperCore
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The NBD export: every mapped device served over the NBD protocol (fixed newstyle) on a
/// TCP port and optionally a unix socket. A swift-service-lifecycle `Service`, run in the
/// same group as the HTTP server.
///
/// Lifecycle: `run` binds the listeners (throwing if it cannot, which stops the group), logs
/// `nbd listening on HOST:PORT` (and `nbd listening on unix:PATH`), then serves until
/// graceful shutdown. Then it stops accepting, tells every connection to finish (new
/// requests are answered `ESHUTDOWN`; a connection closes once its outstanding bios have
/// ended or are durably queued), waits up to ``NBDConfiguration/shutdownGrace`` and closes
/// what is left.
public final class NBDServer: Service, Sendable {
    public let configuration: NBDConfiguration
    private let exports: DeviceExports
    private let logger: Logger
    /// The read-modify-write locks of every connection (``NBDUnalignedIO``).
    private let sectorLocks = NBDSectorLocks()
    private let group: any EventLoopGroup
    private let tls: NBDTLS?
    private let nextID = Atomic<UInt64>(0)
    private let state = Mutex(State())

    private struct State {
        var listeners: [String] = []
        /// `nil` until `run` bound its listeners (or failed to).
        var ready: Bool = false
        var readyWaiters = WaiterList<[String]>()
        var connections: [UInt64: (stats: NBDConnectionStats, channel: any Channel)] = [:]
    }

    /// Throws when the TLS keys cannot make a TLS context.
    public init(
        configuration: NBDConfiguration, manager: DeviceManager, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.configuration = configuration
        self.tls = try configuration.tlsKeys.map { try NBDTLS(keys: $0) }
        self.exports = DeviceExports(manager: manager, defaultExport: configuration.defaultExport)
        self.logger = logger
        self.group = group
    }

    /// The addresses listened on (`127.0.0.1:10809`, `unix:/run/mapperd.sock`).
    public var listeners: [String] { state.withLock { $0.listeners } }
    /// Connections accepted since the server started (open or closed).
    public var acceptedConnections: UInt64 { nextID.load(ordering: .relaxed) }

    /// Open connections, oldest first.
    public var connections: [NBDConnectionInfo] {
        state.withLock { $0.connections.values.map(\.stats.info) }.sorted { $0.id < $1.id }
    }

    /// Waits until ``run()`` has bound its listeners and returns them (empty if binding failed).
    /// Cancelling the task ends the wait with no listeners.
    public func listening() async -> [String] {
        await WaiterList<[String]>.wait(
            deadline: nil,
            register: { continuation in
                state.withLock { state -> WaiterList<[String]>.Registration in
                    if state.ready { return .ready(state.listeners) }
                    return state.readyWaiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.readyWaiters.remove(id) } }) ?? []
    }

    private func markReady() {
        let (waiters, listeners) = state.withLock { state in
            state.ready = true
            return (state.readyWaiters.takeAll(), state.listeners)
        }
        waiters.resumeAll(returning: listeners)
    }

    public func run() async throws {
        var channels: [any Channel] = []
        do {
            if let port = configuration.port {
                let channel = try await bootstrap(requireTLS: tls != nil).bind(host: configuration.host, port: port)
                    .get()
                let bound = channel.localAddress?.port ?? port
                let label = "\(configuration.host):\(bound)"
                state.withLock { $0.listeners.append(label) }
                logger.info("nbd listening on \(label)")
                channels.append(channel)
            }
            if let path = configuration.socketPath {
                let channel = try await bootstrap(requireTLS: false).bind(
                    unixDomainSocketPath: path, cleanupExistingSocketFile: true
                ).get()
                state.withLock { $0.listeners.append("unix:\(path)") }
                logger.info("nbd listening on unix:\(path)")
                channels.append(channel)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            state.withLock { $0.listeners = [] }
            markReady()
            logger.critical("nbd cannot listen", metadata: ["error": "\(error)"])
            throw error
        }
        markReady()
        try? await gracefulShutdown()
        for channel in channels { try? await channel.close() }
        await drainConnections()
        logger.info("nbd stopped")
    }

    private func drainConnections() async {
        let open = state.withLock { $0.connections.values.map(\.channel) }
        guard !open.isEmpty else { return }
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(NBDShutdownEvent()) }
        let grace = configuration.shutdownGrace
        await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for channel in open { try? await channel.closeFuture.get() }
            }
            tasks.addTask {
                try? await Task.sleep(for: grace)
            }
            await tasks.next()
            tasks.cancelAll()
        }
        for channel in open where channel.isActive {
            logger.warning("nbd connection closed at shutdown with requests in flight")
            try? await channel.close()
        }
    }

    private func bootstrap(requireTLS: Bool) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.setUp(channel, requireTLS: requireTLS) }
            }
    }

    /// What `STARTTLS` does on a connection, or `nil` without TLS keys.
    private func startTLS(_ stats: NBDConnectionStats) -> (@Sendable (ChannelHandlerContext) throws -> Void)? {
        guard let tls else { return nil }
        return { context in
            try tls.start(on: context)
            stats.tls.store(true, ordering: .relaxed)
        }
    }

    private func setUp(_ channel: any Channel, requireTLS: Bool) throws {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let client =
            channel.remoteAddress.map { address -> String in
                if let ip = address.ipAddress, let port = address.port { return "\(ip):\(port)" }
                return "unix"
            } ?? "unix"
        let stats = NBDConnectionStats(id: id, client: client)
        let decoder = NBDFrameDecoder()
        let handler = NBDConnectionHandler(
            decoder: decoder, exports: exports, stats: stats,
            limits: .init(
                maxInFlight: configuration.maxInFlight, maxInFlightBytes: configuration.maxInFlightBytes,
                closeDeadline: configuration.closeDeadline, busyPoll: configuration.busyPoll),
            tlsRequired: requireTLS, onTLS: startTLS(stats), sectorLocks: sectorLocks, logger: logger)
        try channel.pipeline.syncOperations.addHandler(handler)
        state.withLock { $0.connections[id] = (stats, channel) }
        channel.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.connections.removeValue(forKey: id) }
        }
    }
}
