/// A backend on a remote export (an NBD server): its size comes from the export, and its
/// own I/O (a table that maps straight onto it) goes through a connection of its own. Each
/// path to it opens another connection (``makePathTransport(uri:)``).
///
/// Created connected by the API (``DeviceManager/createBackend(name:uri:sizeBytes:)``); at
/// start-up it is rebuilt from its persisted size, and a connection that cannot be made yet
/// leaves its I/O failing with EIO until ``transport`` connects again.
public final class RemoteBackend: Backend {
    public let name: String
    public let uri: String
    public let sizeSectors: UInt64
    public let holders = Holders()
    public var kind: BlockNodeKind { .backend }
    public var source: BackendSource { .remote(uri: uri) }
    /// The backend's own connection.
    public let transport: any RemoteTransport
    private let connector: any RemoteConnector

    init(name: String, uri: String, sizeSectors: UInt64, transport: any RemoteTransport, connector: any RemoteConnector) {
        self.name = name
        self.uri = uri
        self.sizeSectors = sizeSectors
        self.transport = transport
        self.connector = connector
    }

    public func submit(_ request: BlockRequest) {
        transport.submit(request)
    }

    public func makePathTransport(uri: String?) throws -> any PathTransport {
        try connector.transport(uri: uri ?? self.uri, expectedSizeBytes: sizeSectors << 9)
    }
}
