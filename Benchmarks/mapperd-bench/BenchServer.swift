import Foundation
import Hummingbird
import Logging
import MapperCore
import MapperServer

/// An HTTP application run in this process on a free loopback port, for the HTTP-facing
/// suites; ``stop()`` ends it.
struct BenchServer {
    let task: Task<Void, any Error>
    let port: Int

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts `router` with mapperd's server configuration and returns once it listens.
    static func start(_ router: Router<BasicRequestContext>, logger: Logger) async throws -> BenchServer {
        let ports = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "mapperd"),
            onServerRunning: { channel in
                ports.continuation.yield(channel.localAddress?.port ?? 0)
                ports.continuation.finish()
            },
            logger: logger)
        let task = Task { try await app.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw MapperError(.EIO, "server did not start") }
        return BenchServer(task: task, port: port)
    }

    /// A mapperd runtime over `directory`/data with a linear device `lin` over a 64 MiB backend,
    /// served on a free port. Logs only critical messages.
    static func mapperd(in directory: URL) async throws -> (MapperRuntime, BenchServer) {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let runtime = try await MapperRuntime(
            configuration: ServerConfiguration(port: 0, dataDirectory: directory.appendingPathComponent("data")),
            logger: logger)
        let server = try await start(try MapperServer.router(runtime: runtime), logger: logger)
        try await runtime.manager.createBackend(
            name: "disk", file: "disk.img", url: directory.appendingPathComponent("data/disk.img"), sizeBytes: 64 << 20)
        try await runtime.manager.createDevice(name: "lin", table: TableParser.parse("0 131072 linear disk 0"))
        return (runtime, server)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}
