/// Settings of the NBD client behind remote backends and paths.
public struct NBDClientConfiguration: Sendable {
    /// How long connecting and the handshake may take.
    public var connectTimeout: Duration = .seconds(5)
    /// How long one request may wait for its reply. A request past it ends the connection:
    /// every request in flight on it ends with EIO, a path error, and is retried on another
    /// path by the multipath rules (a late reply can no longer be matched safely).
    public var requestTimeout: Duration = .seconds(30)

    public init(connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30)) {
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
    }
}
