import Foundation
import MapperCore
import MapperNBD
import MapperStore

/// How `mapperd serve` runs: where it listens, where its state lives, and its limits.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0 binds a free port.
    public var port: Int
    public var dataDirectory: URL
    /// Bearer token every request but `GET /v1/health` must carry; `nil` = no auth (loopback only).
    public var token: String?
    /// Serve `POST /v1/debug/faults`.
    public var enableFaultInjection: Bool
    /// Largest data request body (PUT data); larger ones get 413 E2BIG.
    public var maxDataBytes: Int
    /// Largest JSON or text request body.
    public var maxJSONBytes: Int
    /// How long `Prefer: respond-async` waits for a bio to end or be durably queued.
    public var respondAsyncWait: Duration
    public var store: StoreConfiguration
    /// Where the state lives when not in the data directory's SQLite file: a PostgreSQL
    /// database (`--store postgres://…`). `nil`: the embedded SQLite store.
    public var storeLocation: String?
    /// How much held I/O (queued, pushed back, deferred) a device and the server take before
    /// new bios are refused with EAGAIN (HTTP 503) or, over NBD, the socket stops being read.
    public var queueLimits: QueueLimits
    /// The NBD export; `nil` = none (`--no-nbd`, and the default for embedded use and tests).
    public var nbd: NBDConfiguration?
    /// The path checker's defaults (`--polling-interval-ms`, `--checker-timeout-ms`): what an
    /// NBD path gets when created without a checker, and what `no_path_retry` counts in for
    /// paths without one.
    public var checker: CheckerConfig = .defaults
    /// The NBD client behind remote backends and paths (connect and request timeouts).
    public var nbdClient = NBDClientConfiguration()
    /// How long a thin pool out of data space holds writes before failing them with ENOSPC
    /// (`--no-space-timeout-s`, dm-thin's `no_space_timeout`); zero: for ever.
    public var thinNoSpaceTimeout: Duration = .seconds(60)
    /// This host's id among hosts sharing a PostgreSQL store (`--host-id`; default the
    /// hostname). Unused with the SQLite store.
    public var hostID: String = ProcessInfo.processInfo.hostName
    /// The host's lease on a shared store (`--lease-ms`).
    public var lease: Duration = .seconds(10)
    /// Claim devices of hosts whose lease ran out, without being asked (`--takeover auto`).
    public var autoTakeover = false

    public init(
        host: String = "127.0.0.1", port: Int = 7420, dataDirectory: URL = URL(fileURLWithPath: "mapperd-data"),
        token: String? = nil, enableFaultInjection: Bool = false, maxDataBytes: Int = 8 << 20,
        maxJSONBytes: Int = 1 << 20, respondAsyncWait: Duration = .milliseconds(100),
        store: StoreConfiguration = StoreConfiguration(), queueLimits: QueueLimits = .defaults,
        nbd: NBDConfiguration? = nil
    ) {
        self.queueLimits = queueLimits
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.token = token
        self.enableFaultInjection = enableFaultInjection
        self.maxDataBytes = maxDataBytes
        self.maxJSONBytes = maxJSONBytes
        self.respondAsyncWait = respondAsyncWait
        self.store = store
        self.nbd = nbd
    }

    /// How much of an unread request body an error answer reads and drops (so a client that
    /// writes before it reads gets the answer): 64 MiB, or twice the data limit.
    var drainLimit: Int { max(64 << 20, 2 * maxDataBytes) }

    /// Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    public var isLoopback: Bool {
        HostAddress.isLoopback(host)
    }
}
