import Foundation

/// A program that nobody here wrote (qemu-io, nbdinfo, fio, ...), run to completion without
/// blocking a thread: its exit is awaited through the termination handler, its output goes
/// to a temporary file (no pipe to fill up).
public struct ExternalTool: Sendable {
    public struct Result: Sendable {
        public let status: Int32
        public let output: String
        public var succeeded: Bool { status == 0 }
    }

    /// The program's path on `PATH` (or `/usr/sbin`, `/sbin`), if installed.
    public static func locate(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether every program is installed.
    public static func available(_ names: String...) -> Bool { names.allSatisfy { locate($0) != nil } }

    /// A started program; ``finish()`` waits for its exit.
    public final class Running: @unchecked Sendable {
        public let process = Process()
        public let outputFile: URL
        private let exited: Task<Int32, Never>

        fileprivate init(_ path: String, _ arguments: [String]) throws {
            outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(UUID().uuidString).out")
            _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
            let handle = try FileHandle(forWritingTo: outputFile)
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            let process = self.process
            let (stream, continuation) = AsyncStream<Int32>.makeStream()
            process.terminationHandler = { finished in
                try? handle.close()
                continuation.yield(finished.terminationStatus)
                continuation.finish()
            }
            exited = Task { await stream.first { _ in true } ?? -1 }
            try process.run()
        }

        /// Waits for the exit; returns the status and everything the program printed.
        public func finish() async -> Result {
            let status = await exited.value
            let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: outputFile)
            return Result(status: status, output: output)
        }
    }

    /// Starts `name` with `arguments`, ended by `timeout` after `seconds` (so that a client
    /// that hangs fails its test instead of hanging the suite).
    public static func start(_ name: String, _ arguments: [String], seconds: Int = 120) throws -> Running {
        guard let path = locate(name) else { throw ToolMissing(name: name) }
        if let timeout = locate("timeout") {
            return try Running(timeout, ["-k", "5", "\(seconds)", path] + arguments)
        }
        return try Running(path, arguments)
    }

    /// Runs `name` with `arguments` to completion.
    public static func run(_ name: String, _ arguments: [String]) async throws -> Result {
        try await start(name, arguments).finish()
    }

    public struct ToolMissing: Error { public let name: String }
}
