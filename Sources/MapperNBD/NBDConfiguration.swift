import MapperCore

/// Where and how the NBD export listens (`mapperd serve --nbd-*`).
public struct NBDConfiguration: Sendable {
    /// The address of the TCP listener (the REST server's `--host`).
    public var host: String
    /// The TCP port (0 = a free one); `nil` = no TCP listener.
    public var port: Int?
    /// A unix socket to listen on as well (an existing socket file there is replaced).
    public var socketPath: String?
    /// The device the empty export name means; `nil` = the empty name is unknown.
    public var defaultExport: String?
    /// How long a graceful shutdown waits for connections to drain before closing them.
    public var shutdownGrace: Duration
    /// Pre-shared keys for TLS. With keys, the TCP listener requires TLS (FORCEDTLS: nothing
    /// but `STARTTLS` and `ABORT` before it); the unix socket offers it without requiring it.
    public var tlsKeys: NBDPreSharedKeys?
    /// Per-connection backpressure limits.
    public var maxInFlight: Int
    public var maxInFlightBytes: Int
    /// How long a connection that got `DISC` (or a shutdown) waits for its requests in flight
    /// to end or be durably queued before it closes anyway.
    public var closeDeadline: Duration
    /// How long a connection that falls idle keeps its event loop polling for the client's
    /// next request before the loop may sleep (zero: never). Adaptive: only while the client
    /// came back within twice this the last time, and only while the connection's own
    /// measurement (``NBDBusyPollTuner``) finds that polling shortens its round trips. Trades
    /// CPU for latency at low queue depth.
    public var busyPoll: Duration

    public init(
        host: String = "127.0.0.1", port: Int? = 10809, socketPath: String? = nil, defaultExport: String? = nil,
        shutdownGrace: Duration = .seconds(10), maxInFlight: Int = 1024, maxInFlightBytes: Int = 256 << 20,
        tlsKeys: NBDPreSharedKeys? = nil, closeDeadline: Duration = .seconds(10),
        busyPoll: Duration = .microseconds(50)
    ) {
        self.closeDeadline = closeDeadline
        self.busyPoll = busyPoll
        self.host = host
        self.port = port
        self.socketPath = socketPath
        self.defaultExport = defaultExport
        self.shutdownGrace = shutdownGrace
        self.maxInFlight = maxInFlight
        self.maxInFlightBytes = maxInFlightBytes
        self.tlsKeys = tlsKeys
    }

    /// Whether the TCP listener's address is a loopback one.
    public var isLoopback: Bool {
        HostAddress.isLoopback(host)
    }
}
