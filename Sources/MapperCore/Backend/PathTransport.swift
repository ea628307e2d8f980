/// How a path's I/O reaches its backend (SEMANTICS §6): the backend's file itself, or a
/// connection of the path's own to a remote export. The path's fault mode is applied on top.
///
/// `submit` never blocks on the network: a transport that is not connected completes the
/// request at once with EIO, a path error, so multipath fails the path and retries the clone
/// elsewhere (or queues it). Reconnecting is the path checker's job (``connect()``), never a
/// loop inside the transport.
public protocol PathTransport: AnyObject, Sendable {
    /// Starts the I/O; the completion is called exactly once, from any thread.
    func submit(_ request: BlockRequest)
    /// Starts the I/O of `clone` remapped to `sector`: the same as
    /// `submit(clone.request(to: sector))`, the default (see ``BlockDevice``).
    func submit(remapped clone: Clone, to sector: UInt64)
    /// Kind, address and whether it is connected, for the API.
    var transportInfo: TransportInfo { get }
    /// Connects when not connected (a no-op for files). Throws a ``MapperError`` when the
    /// peer cannot be reached or no longer matches (another size). Never blocks a thread.
    func connect() async throws
    /// Closes the connection for good (the path is removed); requests in flight end with EIO.
    func close()
    /// Calls `handler` whenever an established connection is lost (not on ``close()``): a
    /// lost connection is a path error even with no I/O in flight, so the path fails at once
    /// instead of at its next check. Files never call it. The handler may hold the path: a
    /// transport keeps it only until ``close()``.
    func onDisconnect(_ handler: @escaping @Sendable () -> Void)
}

extension PathTransport {
    public func submit(remapped clone: Clone, to sector: UInt64) {
        submit(clone.request(to: sector))
    }

    public func onDisconnect(_ handler: @escaping @Sendable () -> Void) {}
}

/// A transport as the API shows it.
public struct TransportInfo: Sendable, Equatable {
    /// `"file"` or `"nbd"`.
    public var kind: String
    /// The remote address (`nil` for a file).
    public var uri: String?
    public var connected: Bool

    public init(kind: String, uri: String?, connected: Bool) {
        self.kind = kind
        self.uri = uri
        self.connected = connected
    }
}

/// A transport to a remote export, whose size is known once connected.
public protocol RemoteTransport: PathTransport {
    /// The export's size in bytes, once a connection has been made (`nil` before).
    var exportSizeBytes: UInt64? { get }
}

/// Makes transports to remote exports. The engine knows no sockets: the server provides a
/// connector (the NBD client) through ``EngineServices``.
public protocol RemoteConnector: Sendable {
    /// Checks `uri` and returns a transport to it, not yet connected. When `expectedSizeBytes`
    /// is given, every connection must find an export of exactly that size (EINVAL
    /// otherwise). EINVAL for a URI the connector cannot use.
    func transport(uri: String, expectedSizeBytes: UInt64?) throws -> any RemoteTransport
}
