import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL server for tests: the one `MAPPERD_TEST_POSTGRES` names (the directory of its
/// unix socket, on port 5432, user `mapperd` with trust authentication: what `.ci/run`
/// starts), or else a throw-away cluster this process starts on first use in a temporary
/// directory (unix socket only, no TCP port; run as the `postgres` user when the tests run as
/// root, since PostgreSQL refuses root) and stops when the process exits. Each test gets a
/// database of its own (``database()``).
public enum PostgresTestServer {
    /// Whether a server is there or can be started (PostgreSQL's programs are installed).
    public static var available: Bool { socketDirectory != nil || binDirectory != nil }

    /// A new empty database; returns its `postgres://` location.
    public static func database() async throws -> String {
        let directory = try await server()
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await run(tool("createdb"), ["-h", directory, "-p", "5432", "-U", "mapperd", name])
        return "postgres://mapperd@/\(name)?host=\(directory)"
    }

    private static var socketDirectory: String? {
        ProcessInfo.processInfo.environment["MAPPERD_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The newest installed PostgreSQL's programs.
    private static let binDirectory: String? = {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(root)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }()

    private static func tool(_ name: String) throws -> String {
        if let binDirectory { return "\(binDirectory)/\(name)" }
        guard let path = ExternalTool.locate(name) else {
            throw PostgresTestError(message: "\(name) not found: install PostgreSQL (Debian: postgresql)")
        }
        return path
    }

    /// Whether the cluster this process starts syncs its commits to disk (`fsync`, as a real
    /// server does; for benchmarks). Off by default: tests need no durability of the server's
    /// host. Set before the first ``database()``.
    public static var durableCommits: Bool {
        get { durable.withLock { $0 } }
        set { durable.withLock { $0 = newValue } }
    }
    private static let durable = Mutex(false)

    /// The start of this process's own cluster (once), giving its socket directory.
    private static let starting = Mutex<Task<String, any Error>?>(nil)
    /// The data directory of the cluster this process started, for the stop at exit.
    private static let startedData = Mutex<String?>(nil)

    /// The socket directory of the server, starting one the first time if none is named.
    private static func server() async throws -> String {
        if let socketDirectory { return socketDirectory }
        let task = starting.withLock { task in
            if let task { return task }
            let started = Task { try await startCluster() }
            task = started
            return started
        }
        return try await task.value
    }

    private static func startCluster() async throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mapperd-pg-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot { try await run("/usr/bin/chown", ["postgres:postgres", root.path]) }
        let data = root.appendingPathComponent("data").path
        try await run(
            try tool("initdb"), ["-D", data, "-U", "mapperd", "-A", "trust", "-E", "UTF8", "--no-sync"],
            asPostgres: asRoot)
        // The server runs as a child of this process (pg_ctl's detached server confuses the
        // wait for pg_ctl itself); it is ready once pg_isready says so.
        let log = root.appendingPathComponent("log").path
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        if asRoot { try await run("/usr/bin/chown", ["postgres:postgres", log]) }
        let server = Process()
        let postgres = try tool("postgres")
        let arguments = [
            "-D", data, "-k", root.path, "-c", "listen_addresses=", "-c", "fsync=\(durableCommits ? "on" : "off")",
        ]
        server.executableURL = URL(fileURLWithPath: asRoot ? "/usr/sbin/runuser" : postgres)
        server.arguments = (asRoot ? ["-u", "postgres", "--", postgres] : []) + arguments
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        server.standardOutput = output
        server.standardError = output
        server.standardInput = FileHandle.nullDevice
        try server.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let ready = try await ExternalTool.run(try tool("pg_isready"), ["-h", root.path, "-p", "5432", "-q"])
            if ready.succeeded { break }
            guard server.isRunning, ContinuousClock.now < deadline else {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw PostgresTestError(message: "the test PostgreSQL server did not start: \(text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        startedData.withLock { $0 = data }
        atexit { PostgresTestServer.stopAtExit() }
        return root.path
    }

    /// Stops the cluster this process started (immediate shutdown) and removes its directory.
    /// Runs at exit, when nothing awaits any more: it waits for `pg_ctl` plainly.
    private static func stopAtExit() {
        guard let data = startedData.withLock({ $0 }), let pgctl = try? tool("pg_ctl") else { return }
        let process = Process()
        let asRoot = getuid() == 0
        process.executableURL = URL(fileURLWithPath: asRoot ? "/usr/sbin/runuser" : pgctl)
        process.arguments = (asRoot ? ["-u", "postgres", "--", pgctl] : []) + ["-D", data, "-m", "immediate", "stop"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if (try? process.run()) != nil { process.waitUntilExit() }
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: data).deletingLastPathComponent())
    }

    private static func run(_ program: String, _ arguments: [String], asPostgres: Bool = false) async throws {
        let result =
            asPostgres
            ? try await ExternalTool.run("runuser", ["-u", "postgres", "--", program] + arguments)
            : try await ExternalTool.run(program, arguments)
        guard result.succeeded else {
            throw PostgresTestError(
                message: "\(program) \(arguments.joined(separator: " ")) failed: \(result.output)")
        }
    }
}

/// A PostgreSQL test server could not be started or used.
public struct PostgresTestError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
