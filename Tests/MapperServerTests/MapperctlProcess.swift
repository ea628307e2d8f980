import Foundation
import Synchronization

/// The real `mapperctl` binary run against a ``ServerProcess``: stdin from a string, stdout
/// and stderr kept apart, its exit awaited through the termination handler (no thread
/// blocks). ``start(_:stdin:)`` gives a running one whose stdout can be read line by line
/// (`events --follow`).
struct MapperctlProcess {
    struct Result: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    let url: String
    var tokenFile: String?
    var environment: [String: String] = [:]

    /// The built binary: next to the test bundle, or `.build/debug/mapperctl`.
    static var binary: URL {
        let nextToTests = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("mapperctl")
        if FileManager.default.isExecutableFile(atPath: nextToTests.path) { return nextToTests }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/mapperctl")
    }

    init(server: ServerProcess) {
        url = "http://127.0.0.1:\(server.port)"
    }

    /// Runs `mapperctl ARGUMENTS` to its exit.
    func run(_ arguments: [String], stdin: String = "") async throws -> Result {
        let running = try start(arguments, stdin: stdin)
        return await running.finish()
    }

    func start(_ arguments: [String], stdin: String = "") throws -> Running {
        var env = ProcessInfo.processInfo.environment
        env["MAPPERD_URL"] = url
        env["MAPPERD_TOKEN"] = nil
        env.merge(environment) { $1 }
        let extra = tokenFile.map { ["--token-file", $0] } ?? []
        return try Running(arguments + extra, stdin: stdin, environment: env)
    }

    final class Running: @unchecked Sendable {
        let process = Process()
        private let stderrFile: URL
        private let exited: Task<Int32, Never>
        private let collected = Collector()
        private let (lineStream, lineContinuation) = AsyncStream<String>.makeStream()
        private let readerDone: Task<Void, Never>

        private struct Collected {
            var text = ""
            var partial = ""
        }

        /// Stdout so far, shared with the reading thread.
        private final class Collector: Sendable {
            let state = Mutex(Collected())
        }

        fileprivate init(_ arguments: [String], stdin: String, environment: [String: String]) throws {
            stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-\(UUID().uuidString).err")
            _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
            let stdinFile = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-\(UUID().uuidString).in")
            try Data(stdin.utf8).write(to: stdinFile)
            let errHandle = try FileHandle(forWritingTo: stderrFile)
            let inHandle = try FileHandle(forReadingFrom: stdinFile)
            let pipe = Pipe()
            process.executableURL = MapperctlProcess.binary
            process.arguments = arguments
            process.environment = environment
            process.standardInput = inHandle
            process.standardOutput = pipe
            process.standardError = errHandle
            let (stream, continuation) = AsyncStream<Int32>.makeStream()
            process.terminationHandler = { finished in
                try? errHandle.close()
                try? inHandle.close()
                try? FileManager.default.removeItem(at: stdinFile)
                continuation.yield(finished.terminationStatus)
                continuation.finish()
            }
            exited = Task { await stream.first { _ in true } ?? -1 }
            try process.run()
            let handle = pipe.fileHandleForReading
            let collected = self.collected
            let lines = lineContinuation
            // The pipe is read on a thread of its own (a blocking read must not take one of the
            // concurrency pool's few threads) until end of file: the process exited.
            let (done, doneContinuation) = AsyncStream<Void>.makeStream()
            readerDone = Task { for await _ in done {} }
            let thread = Thread {
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    let complete = collected.state.withLock { state -> [String] in
                        let text = String(decoding: data, as: UTF8.self)
                        state.text += text
                        state.partial += text
                        var parts = state.partial.components(separatedBy: "\n")
                        state.partial = parts.removeLast()
                        return parts
                    }
                    for line in complete { lines.yield(line) }
                }
                lines.finish()
                doneContinuation.finish()
            }
            thread.start()
        }

        /// Stdout lines as they come.
        var lines: AsyncStream<String> { lineStream }

        func interrupt() { kill(process.processIdentifier, SIGINT) }

        func finish() async -> Result {
            let status = await exited.value
            await readerDone.value
            let stderr = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: stderrFile)
            return Result(status: status, stdout: collected.state.withLock { $0.text }, stderr: stderr)
        }
    }
}
