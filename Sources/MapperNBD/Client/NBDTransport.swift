import MapperCore
import NIOCore
import NIOPosix
import Synchronization

/// A path's (or a remote backend's) connection to an NBD export, as the engine's
/// ``RemoteTransport``: I/O goes over the current ``NBDClientConnection``; with none (never
/// connected, or lost), it ends with EIO at once. ``connect()`` (the checker's, or creation's)
/// makes a new connection when there is none; one connect runs at a time.
public final class NBDTransport: RemoteTransport {
    public let uri: NBDURI
    private let expectedSizeBytes: UInt64?
    private let configuration: NBDClientConfiguration
    private let group: any EventLoopGroup
    private let connecting = AsyncMutex()
    private let state = Mutex(State())

    private struct State {
        var connection: NBDClientConnection?
        var sizeBytes: UInt64?
        var closed = false
        var disconnectHandler: (@Sendable () -> Void)?
    }

    public init(
        uri: NBDURI, expectedSizeBytes: UInt64?, configuration: NBDClientConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.uri = uri
        self.expectedSizeBytes = expectedSizeBytes
        self.configuration = configuration
        self.group = group
    }

    public var exportSizeBytes: UInt64? { state.withLock { $0.sizeBytes } }

    /// The current connection, if open.
    public var connection: NBDClientConnection? {
        state.withLock { $0.connection }.flatMap { $0.isOpen ? $0 : nil }
    }

    public var transportInfo: TransportInfo {
        TransportInfo(kind: "nbd", uri: uri.description, connected: connection != nil)
    }

    public func submit(_ request: BlockRequest) {
        guard let connection = state.withLock({ $0.connection }) else {
            return request.endIO(.EIO)
        }
        connection.submit(request)
    }

    public func connect() async throws {
        try await connecting.withLock {
            if self.connection != nil { return }
            if state.withLock({ $0.closed }) { throw MapperError(.ENODEV, "\(uri): the transport is closed") }
            let connection = try await NBDClientConnection.connect(to: uri, configuration: configuration, group: group)
            let size = connection.info.sizeBytes
            if let expected = expectedSizeBytes, expected != size {
                connection.close()
                throw MapperError(.EINVAL, "\(uri): the export has \(size) bytes, not \(expected)")
            }
            let keep = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.connection = connection
                state.sizeBytes = size
                return true
            }
            guard keep else {
                connection.close()
                throw MapperError(.ENODEV, "\(uri): the transport is closed")
            }
            connection.channel.closeFuture.whenComplete { [weak self] _ in self?.lost(connection) }
        }
    }

    public func onDisconnect(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.disconnectHandler = handler }
    }

    /// The connection went away: forget it and, unless the transport was closed on purpose,
    /// tell the path.
    private func lost(_ connection: NBDClientConnection) {
        let handler = state.withLock { state -> (@Sendable () -> Void)? in
            guard state.connection === connection else { return nil }
            state.connection = nil
            return state.closed ? nil : state.disconnectHandler
        }
        handler?()
    }

    public func close() {
        let connection = state.withLock { state -> NBDClientConnection? in
            state.closed = true
            // The handler may hold the path (``PathTransport/onDisconnect(_:)``): let it go.
            state.disconnectHandler = nil
            defer { state.connection = nil }
            return state.connection
        }
        connection?.close()
    }
}

/// The engine's ``RemoteConnector`` for NBD URIs.
public struct NBDConnector: RemoteConnector {
    public let configuration: NBDClientConfiguration
    private let group: any EventLoopGroup

    public init(configuration: NBDClientConfiguration = NBDClientConfiguration(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    public func transport(uri: String, expectedSizeBytes: UInt64?) throws -> any RemoteTransport {
        NBDTransport(uri: try NBDURI(uri), expectedSizeBytes: expectedSizeBytes, configuration: configuration, group: group)
    }
}
