import Foundation
import Synchronization

/// One connection's counters, written on its event loop and read from anywhere
/// (`GET /v1/nbd`).
public final class NBDConnectionStats: Sendable {
    public let id: UInt64
    /// The peer (`127.0.0.1:51234`, `unix`).
    public let client: String
    public let since: Date
    private let exportName = Mutex<String?>(nil)
    let inFlight = Atomic<Int>(0)
    let bytesRead = Atomic<UInt64>(0)
    let bytesWritten = Atomic<UInt64>(0)
    let tls = Atomic<Bool>(false)

    init(id: UInt64, client: String) {
        self.id = id
        self.client = client
        self.since = Date()
    }

    func setExport(_ name: String?) { exportName.withLock { $0 = name } }

    /// A consistent-enough snapshot (each counter is read atomically).
    public var info: NBDConnectionInfo {
        NBDConnectionInfo(
            id: id, client: client, export: exportName.withLock { $0 }, since: since,
            inFlight: inFlight.load(ordering: .relaxed), bytesRead: bytesRead.load(ordering: .relaxed),
            bytesWritten: bytesWritten.load(ordering: .relaxed), tls: tls.load(ordering: .relaxed))
    }
}

/// One NBD connection as `GET /v1/nbd` lists it. `export` is `nil` during the handshake.
/// `bytesRead` counts bytes the client read from the device, `bytesWritten` what it wrote.
public struct NBDConnectionInfo: Sendable, Equatable {
    public var id: UInt64
    public var client: String
    public var export: String?
    public var since: Date
    public var inFlight: Int
    public var bytesRead: UInt64
    public var bytesWritten: UInt64
    /// Whether the connection runs over TLS.
    public var tls: Bool
}
