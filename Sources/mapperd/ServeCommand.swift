import ArgumentParser
import Foundation
import Logging
import MapperCore
import MapperNBD
import MapperPostgres
import MapperServer
import MapperStore

/// `mapperd serve`: runs the REST service over a data directory.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the REST/JSON service.")

    private static let environment = ProcessInfo.processInfo.environment

    @Option(name: .long, help: "Data directory: database and backend files (env MAPPERD_DATA_DIR).")
    var dataDir: String = environment["MAPPERD_DATA_DIR"] ?? "./mapperd-data"

    @Option(name: .long, help: "Address to listen on (env MAPPERD_HOST).")
    var host: String = environment["MAPPERD_HOST"] ?? "127.0.0.1"

    @Option(name: .long, help: "Port; 0 picks a free one (env MAPPERD_PORT).")
    var port: Int = environment["MAPPERD_PORT"].flatMap(Int.init) ?? 7420

    @Option(name: .long, help: "File holding the bearer token (env MAPPERD_TOKEN gives the token itself).")
    var tokenFile: String?

    @Flag(name: .long, help: "Serve POST /v1/debug/faults (tests only).")
    var enableFaultInjection = false

    @Option(name: .long, help: "Largest data request body in bytes.")
    var maxDataBytes: Int = 8 << 20

    @Option(
        name: .long,
        help:
            "Bytes of held I/O (queued, pushed back, deferred) one device takes before refusing new bios (env MAPPERD_MAX_QUEUED_BYTES)."
    )
    var maxQueuedBytes: Int =
        environment["MAPPERD_MAX_QUEUED_BYTES"].flatMap(Int.init) ?? QueueLimits.defaults.deviceBytes

    @Option(
        name: .long,
        help: "Bytes of held I/O over all devices before new bios are refused (env MAPPERD_MAX_QUEUED_BYTES_TOTAL).")
    var maxQueuedBytesTotal: Int =
        environment["MAPPERD_MAX_QUEUED_BYTES_TOTAL"].flatMap(Int.init) ?? QueueLimits.defaults.totalBytes

    @Option(
        name: .customLong("store"),
        help:
            "Keep the state in PostgreSQL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or postgres://USER@/DATABASE?host=/socket/dir (env MAPPERD_STORE). Default: SQLite in the data directory."
    )
    var storeOption: String?
    /// The option, else the environment (an empty variable is unset).
    var storeLocation: String? {
        storeOption ?? Self.environment["MAPPERD_STORE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Option(
        name: .long,
        help: "This host's id among hosts sharing a PostgreSQL store (env MAPPERD_HOST_ID). Default: the hostname.")
    var hostId: String? = environment["MAPPERD_HOST_ID"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(
        name: .long,
        help:
            "Milliseconds of this host's lease on a shared store, renewed every third of it (env MAPPERD_LEASE_MS)."
    )
    var leaseMs: Int = environment["MAPPERD_LEASE_MS"].flatMap(Int.init) ?? 10000

    @Option(
        name: .long,
        help:
            "manual: devices of a host whose lease ran out wait for POST /v1/devices/{name}/claim; auto: this host claims them (env MAPPERD_TAKEOVER)."
    )
    var takeover: String = environment["MAPPERD_TAKEOVER"] ?? "manual"

    @Option(name: .long, help: "SQLite durability: full (fsync every commit) or normal.")
    var durability: String = "full"

    @Option(name: .long, help: "NBD port on --host; 0 picks a free one (env MAPPERD_NBD_PORT).")
    var nbdPort: Int = environment["MAPPERD_NBD_PORT"].flatMap(Int.init) ?? 10809

    @Option(name: .customLong("nbd-socket"), help: "Also serve NBD on this unix socket (env MAPPERD_NBD_SOCKET).")
    var nbdSocketOption: String?
    /// The option, else the environment (an empty variable is unset).
    var nbdSocket: String? {
        nbdSocketOption ?? Self.environment["MAPPERD_NBD_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Flag(name: .long, help: "Do not serve NBD (env MAPPERD_NO_NBD=1).")
    var noNbd = environment["MAPPERD_NO_NBD"].map { $0 == "1" || $0 == "true" } ?? false

    @Option(
        name: .customLong("nbd-default-export"),
        help: "The device an empty NBD export name means (env MAPPERD_NBD_DEFAULT_EXPORT).")
    var nbdDefaultExportOption: String?
    /// The option, else the environment (an empty variable is unset).
    var nbdDefaultExport: String? {
        nbdDefaultExportOption ?? Self.environment["MAPPERD_NBD_DEFAULT_EXPORT"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Option(
        name: .customLong("nbd-tls-psk"), help: "TLS pre-shared keys for NBD, psktool format (env MAPPERD_NBD_TLS_PSK)."
    )
    var nbdTlsPskOption: String?
    /// The option, else the environment (an empty variable is unset).
    var nbdTlsPsk: String? {
        nbdTlsPskOption ?? Self.environment["MAPPERD_NBD_TLS_PSK"].flatMap { $0.isEmpty ? nil : $0 }
    }

    @Option(
        name: .customLong("nbd-close-deadline-ms"),
        help:
            "Milliseconds a disconnecting NBD client's requests in flight may take before its connection closes anyway (env MAPPERD_NBD_CLOSE_DEADLINE_MS)."
    )
    var nbdCloseDeadlineMs: Int = environment["MAPPERD_NBD_CLOSE_DEADLINE_MS"].flatMap(Int.init) ?? 10_000

    @Option(
        name: .customLong("nbd-busy-poll-us"),
        help:
            "Microseconds an NBD connection that falls idle may keep polling for its client's next request before its thread may sleep, where the connection measures that polling pays; 0 = never (env MAPPERD_NBD_BUSY_POLL_US)."
    )
    var nbdBusyPollUs: Int = environment["MAPPERD_NBD_BUSY_POLL_US"].flatMap(Int.init) ?? 50

    @Option(
        name: .long,
        help:
            "Default milliseconds between path checks; NBD paths are checked by default (env MAPPERD_POLLING_INTERVAL_MS)."
    )
    var pollingIntervalMs: Int = environment["MAPPERD_POLLING_INTERVAL_MS"].flatMap(Int.init) ?? 5000

    @Option(name: .long, help: "Default milliseconds one path check may take (env MAPPERD_CHECKER_TIMEOUT_MS).")
    var checkerTimeoutMs: Int = environment["MAPPERD_CHECKER_TIMEOUT_MS"].flatMap(Int.init) ?? 5000

    @Option(name: .long, help: "Milliseconds to connect to a remote NBD export (env MAPPERD_NBD_CONNECT_TIMEOUT_MS).")
    var nbdConnectTimeoutMs: Int = environment["MAPPERD_NBD_CONNECT_TIMEOUT_MS"].flatMap(Int.init) ?? 5000

    @Option(
        name: .long,
        help:
            "Milliseconds one request to a remote NBD export may take before its connection is dropped (env MAPPERD_NBD_REQUEST_TIMEOUT_MS)."
    )
    var nbdRequestTimeoutMs: Int = environment["MAPPERD_NBD_REQUEST_TIMEOUT_MS"].flatMap(Int.init) ?? 30000

    @Option(
        name: .long,
        help:
            "Seconds a thin pool out of data space holds writes before failing them with ENOSPC; 0 holds them for ever (env MAPPERD_NO_SPACE_TIMEOUT_S)."
    )
    var noSpaceTimeoutS: Int = environment["MAPPERD_NO_SPACE_TIMEOUT_S"].flatMap(Int.init) ?? 60

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = Self.environment["MAPPERD_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
        guard StoreConfiguration.Durability(rawValue: durability) != nil else {
            throw ValidationError("--durability must be full or normal")
        }
        guard maxDataBytes >= 512 else { throw ValidationError("--max-data-bytes must be at least 512") }
        guard maxQueuedBytes >= 0, maxQueuedBytesTotal >= 0 else {
            throw ValidationError("--max-queued-bytes and --max-queued-bytes-total must not be negative")
        }
        guard (0...86_400).contains(noSpaceTimeoutS) else {
            throw ValidationError("--no-space-timeout-s must be 0...86400")
        }
        guard (0...65535).contains(nbdPort) else { throw ValidationError("--nbd-port must be 0...65535") }
        guard nbdCloseDeadlineMs >= 0 else { throw ValidationError("--nbd-close-deadline-ms must not be negative") }
        guard (0...1_000_000).contains(nbdBusyPollUs) else {
            throw ValidationError("--nbd-busy-poll-us must be 0...1000000")
        }
        if let nbdDefaultExport { try DeviceManager.validateName(nbdDefaultExport, what: "--nbd-default-export") }
        guard (300...600_000).contains(leaseMs) else { throw ValidationError("--lease-ms must be 300...600000") }
        guard ["manual", "auto"].contains(takeover) else { throw ValidationError("--takeover must be manual or auto") }
        if let hostId {
            do {
                try DeviceManager.validateName(hostId, what: "--host-id")
            } catch let error as MapperError {
                throw ValidationError(error.message)
            }
        }
        if storeLocation == nil, hostId != nil || takeover == "auto" {
            throw ValidationError("--host-id and --takeover need a shared store (--store postgres://…)")
        }
        if let storeLocation {
            do {
                _ = try PostgresLocation(storeLocation)
            } catch let error as MapperError {
                throw ValidationError("--store: \(error.message)")
            }
        }
        do {
            _ = try CheckerConfig(intervalMs: pollingIntervalMs, timeoutMs: checkerTimeoutMs)
        } catch let error as MapperError {
            throw ValidationError("--polling-interval-ms / --checker-timeout-ms: \(error.message)")
        }
        guard (10...600_000).contains(nbdConnectTimeoutMs), (10...3_600_000).contains(nbdRequestTimeoutMs) else {
            throw ValidationError(
                "--nbd-connect-timeout-ms must be 10...600000 and --nbd-request-timeout-ms 10...3600000")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "mapperd")
        var token = Self.environment["MAPPERD_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let tokenFile {
            let text = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw ValidationError("the token file '\(tokenFile)' is empty") }
            token = text
        }
        var configuration = ServerConfiguration(
            host: host, port: port, dataDirectory: URL(fileURLWithPath: dataDir, isDirectory: true), token: token,
            enableFaultInjection: enableFaultInjection, maxDataBytes: maxDataBytes,
            store: StoreConfiguration(durability: StoreConfiguration.Durability(rawValue: durability) ?? .full),
            queueLimits: QueueLimits(deviceBytes: maxQueuedBytes, totalBytes: maxQueuedBytesTotal))
        configuration.checker = try CheckerConfig(intervalMs: pollingIntervalMs, timeoutMs: checkerTimeoutMs)
        configuration.storeLocation = storeLocation
        configuration.thinNoSpaceTimeout = .seconds(noSpaceTimeoutS)
        if let hostId { configuration.hostID = hostId }
        configuration.lease = .milliseconds(leaseMs)
        configuration.autoTakeover = takeover == "auto"
        configuration.nbdClient = NBDClientConfiguration(
            connectTimeout: .milliseconds(nbdConnectTimeoutMs), requestTimeout: .milliseconds(nbdRequestTimeoutMs))
        guard configuration.isLoopback || token != nil else {
            throw ValidationError(
                "refusing to listen on non-loopback address '\(host)' without a token (--token-file or MAPPERD_TOKEN)")
        }
        var nbd =
            noNbd
            ? nil
            : NBDConfiguration(
                host: host, port: nbdPort, socketPath: nbdSocket, defaultExport: nbdDefaultExport,
                closeDeadline: .milliseconds(nbdCloseDeadlineMs), busyPoll: .microseconds(nbdBusyPollUs))
        if nbd != nil, let nbdTlsPsk {
            do {
                nbd?.tlsKeys = try NBDPreSharedKeys(contentsOf: nbdTlsPsk)
            } catch {
                throw ValidationError("--nbd-tls-psk: \(error)")
            }
        }
        if let nbd, !nbd.isLoopback, nbd.tlsKeys == nil {
            // NBD has no bearer token: a network listener needs TLS. Unix sockets and loopback
            // need none.
            throw ValidationError(
                "refusing to serve NBD on non-loopback address '\(host)' without TLS; give --nbd-tls-psk FILE, or --no-nbd"
            )
        }
        configuration.nbd = nbd
        let runtime: MapperRuntime
        do {
            runtime = try await MapperRuntime(configuration: configuration, logger: logger)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw ExitCode(2)
        }
        for problem in runtime.recovery.problems {
            logger.warning("not recovered", metadata: ["detail": "\(problem)"])
        }
        try await MapperServer.run(runtime: runtime, logger: logger)
    }
}
