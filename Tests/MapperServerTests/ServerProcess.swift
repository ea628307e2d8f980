import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real `mapperd` binary running `serve` on port 0 over a data directory, and a small
/// HTTP client for it.
final class ServerProcess: @unchecked Sendable {
    let directory: URL
    let process = Process()
    private let output = Mutex<String>("")
    /// The start-up outcome (the HTTP port, or `nil` when the server exited first), decided
    /// once by whichever of the output reader and the termination handler sees it first.
    private struct Ready {
        var continuation: CheckedContinuation<Int?, Never>?
        var result: Int??
    }

    private let ready = Mutex(Ready())
    private(set) var port = 0
    /// The NBD port (0 when the server runs with `--no-nbd`).
    private(set) var nbdPort = 0
    private let expectsNBD: Bool
    let token: String?

    /// The built binary: next to the test bundle, or `.build/debug/mapperd`.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["MAPPERD_BINARY"] { return URL(fileURLWithPath: path) }
        let nextToTests = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("mapperd")
        if FileManager.default.isExecutableFile(atPath: nextToTests.path) { return nextToTests }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/mapperd")
    }

    init(directory: URL, token: String? = nil, arguments extra: [String] = [], environment: [String: String] = [:]) {
        self.directory = directory
        self.token = token
        process.executableURL = Self.binary
        expectsNBD = !extra.contains("--no-nbd")
        let nbd = extra.contains("--no-nbd") || extra.contains("--nbd-port") ? [] : ["--nbd-port", "0"]
        var arguments = ["serve", "--data-dir", directory.path, "--port", "0"] + nbd + extra
        if let token {
            let file = directory.deletingLastPathComponent().appendingPathComponent("token-\(UUID().uuidString)")
            try? token.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["--token-file", file.path]
        }
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
    }

    /// Starts the server and waits for its `listening on HOST:PORT` line (or its exit).
    func start() async throws {
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        // A server that exits early is seen by the reader at end of output, so that its whole
        // log has been read when start() throws.
        try process.run()
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                let text = output.withLock { output -> String in
                    output += String(decoding: data, as: UTF8.self)
                    return output
                }
                let http = Self.port(in: text, after: #"\[MapperServer\] listening on [0-9.]+:([0-9]+)"#)
                let nbd = Self.port(in: text, after: #"nbd listening on [0-9.]+:([0-9]+)"#)
                if let http, nbd != nil || !expectsNBD {
                    nbdPortFound.withLock { $0 = nbd ?? 0 }
                    finish(http)
                }
            }
            finish(nil)
        }
        thread.start()
        let port = await withCheckedContinuation { continuation in
            let decided = ready.withLock { state -> Int?? in
                if let result = state.result { return result }
                state.continuation = continuation
                return nil
            }
            if let decided { continuation.resume(returning: decided) }
        }
        guard let port else { throw ServerError.didNotStart(log) }
        self.port = port
        self.nbdPort = nbdPortFound.withLock { $0 }
    }

    private let nbdPortFound = Mutex(0)

    private static func port(in text: String, after pattern: String) -> Int? {
        guard let range = text.range(of: pattern, options: .regularExpression) else { return nil }
        return text[range].split(separator: ":").last.flatMap { Int($0) }
    }

    /// `nbd://127.0.0.1:PORT/EXPORT`.
    func nbdURI(_ export: String) -> String { "nbd://127.0.0.1:\(nbdPort)/\(export)" }

    private func finish(_ port: Int?) {
        let continuation = ready.withLock { state -> CheckedContinuation<Int?, Never>? in
            guard state.result == nil else { return nil }
            state.result = .some(port)
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: port)
    }

    var log: String { output.withLock { $0 } }

    /// SIGKILL, then waits for the process to be gone.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then waits; returns the exit status.
    func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    enum ServerError: Error { case didNotStart(String) }

    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var code: String? { json["code"] as? String }
        func header(_ name: String) -> String? { headers.first { $0.key.lowercased() == name.lowercased() }?.value }
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 120
        return URLSession(configuration: configuration)
    }()

    @discardableResult
    func call(
        _ method: String, _ path: String, json: String? = nil, bytes: Data? = nil, headers: [String: String] = [:],
        authorized: Bool = true
    ) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if authorized, let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(json.utf8)
        } else if let bytes {
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
            request.httpBody = bytes
        }
        let (data, response) = try await Self.session.data(for: request)
        let http = response as? HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] { fields["\(key)"] = "\(value)" }
        return Reply(status: http?.statusCode ?? 0, headers: fields, body: data)
    }

    /// Polls a bio (one request each round, no sleeping) until it reaches a final state.
    /// Polls a bio until the journal has made it durable or it has ended, for up to 30 s, as
    /// a client told `inflight` by a 202 does before it counts on the bio surviving a crash.
    func waitUntilDurable(_ id: String) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let bio = try await call("GET", "/v1/bios/\(id)").json
            if bio["durable"] as? Bool == true || bio["completedAt"] as? String != nil { return bio }
            if ContinuousClock.now >= deadline { return bio }
        }
    }

    func waitForBio(_ id: String, rounds: Int = 2000) async throws -> [String: Any] {
        try await waitForBio(id, in: ["completed", "failed"], rounds: rounds)
    }

    /// Polls bio `id` (at most `rounds` requests) until its state is one of `states`; returns
    /// it as last seen.
    func waitForBio(_ id: String, in states: Set<String>, rounds: Int = 2000) async throws -> [String: Any] {
        for _ in 0..<rounds {
            let bio = try await call("GET", "/v1/bios/\(id)").json
            if let state = bio["state"] as? String, states.contains(state) { return bio }
        }
        return try await call("GET", "/v1/bios/\(id)").json
    }
}

/// A fresh temporary directory holding a data directory. It is removed when the test
/// process exits: a test may restart servers on it and read its files after they stop, so
/// no earlier moment is safe.
func temporaryDataDirectory() throws -> URL {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("mapperd-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    TemporaryRoots.add(root)
    return root.appendingPathComponent("data")
}

/// The temporary directories this test process made, removed at its exit.
enum TemporaryRoots {
    private static let roots = Mutex<[URL]?>(nil)

    static func add(_ root: URL) {
        let first = roots.withLock { roots -> Bool in
            defer { roots = (roots ?? []) + [root] }
            return roots == nil
        }
        if first { atexit { TemporaryRoots.removeAll() } }
    }

    private static func removeAll() {
        for root in roots.withLock({ $0 ?? [] }) { try? FileManager.default.removeItem(at: root) }
    }
}
