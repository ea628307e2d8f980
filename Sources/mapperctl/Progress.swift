import Foundation
import Synchronization

/// A one-line progress indicator on stderr while a wait lasts ("waiting for an event on mp0,
/// 12 s"), redrawn once a second, only when stderr is a terminal. The line is cleared when the
/// wait ends (or is interrupted). One at a time: a new one retires the last.
final class Progress: Sendable {
    private struct Line {
        /// The progress allowed to draw; a finished one never draws again.
        var current = 0
        var visible = false
    }

    private static let line = Mutex(Line())
    private let id: Int
    private let task: Task<Void, Never>?

    init(_ what: String) {
        let id = Self.line.withLock { line -> Int in
            line.current += 1
            return line.current
        }
        self.id = id
        guard Terminal.standardErrorIsTerminal else {
            task = nil
            return
        }
        task = Task {
            let start = ContinuousClock.now
            while !Task.isCancelled {
                let seconds = (ContinuousClock.now - start).components.seconds
                Progress.line.withLock { line in
                    guard line.current == id else { return }
                    Terminal.standardError("\r\u{1B}[K\(what), \(seconds) s (Ctrl-C to stop)")
                    line.visible = true
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Stops drawing and clears the line.
    func finish() {
        task?.cancel()
        Self.line.withLock { line in
            if line.current == id { line.current += 1 }
        }
        Self.clearLine()
    }

    static func clearLine() {
        line.withLock { line in
            if line.visible { Terminal.standardError("\r\u{1B}[K") }
            line.visible = false
        }
    }

    /// Runs `body` with a progress line.
    static func during<T>(_ what: String, _ body: () async throws -> T) async rethrows -> T {
        let progress = Progress(what)
        defer { progress.finish() }
        return try await body()
    }
}
