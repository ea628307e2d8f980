import ArgumentParser
import Foundation
import MapperAPI

/// `move NAME --from X --to Y`: starts a move job (pvmove) and, unless `--no-wait`, follows it
/// to its end with a progress bar on a terminal (pvmove's percentage). Exit status 1 when the
/// job fails or is cancelled.
struct MoveCommand: Verb {
    static let configuration = CommandConfiguration(
        commandName: "move", abstract: "Move a device's data to another backend under I/O (a move job).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @Option(help: "The backend, path or device the data is on now.") var from: String
    @Option(help: "The backend, path or device it goes to.") var to: String
    @Option(help: "Where on --to it goes, in sectors (default 0).") var toOffset: Int64?
    @Option(help: "The mirror's region size in sectors, a power of two (default 1024).") var regionSize: Int64?
    @Option(help: "Copy at most this many bytes per second (default: unlimited).") var maxRate: Int64?
    @Flag(help: "Print the job and return instead of following it.") var noWait = false

    var label: String { "move \(name)" }

    func execute(_ api: API) async throws {
        var job = try await api.client.moveDevice(
            path: .init(name: name),
            body: .json(
                .init(
                    from: from, to: to, toOffsetSectors: toOffset, regionSizeSectors: regionSize,
                    maxBytesPerSecond: maxRate))
        ).accepted.body.json
        if !noWait { job = try await Self.follow(job, api) }
        try JobCommand.show(job, json: global.json)
        if !noWait, job.phase != .completed {
            throw LocalFailure(
                code: job.phase == .failed ? "EIO" : "ECANCELED", detail: job.error ?? job.phase.rawValue)
        }
    }

    /// Polls the job every half second until it has ended, drawing its progress on a
    /// terminal.
    static func follow(_ job: Components.Schemas.Job, _ api: API) async throws -> Components.Schemas.Job {
        var job = job
        while !isFinal(job) {
            if Terminal.standardErrorIsTerminal { Terminal.standardError("\r\u{1B}[K" + bar(job)) }
            try await Task.sleep(for: .milliseconds(500))
            job = try await api.client.getJob(path: .init(id: job.id)).ok.body.json
        }
        Progress.clearLine()
        if Terminal.standardErrorIsTerminal { Terminal.standardError("\r\u{1B}[K") }
        return job
    }

    static func isFinal(_ job: Components.Schemas.Job) -> Bool {
        job.phase == .completed || job.phase == .cancelled || job.phase == .failed
    }

    /// `move-1 d0: syncing [#########           ]  45.0%  120.0 MiB/s  ETA 12 s`
    static func bar(_ job: Components.Schemas.Job) -> String {
        let fraction = job.totalBytes > 0 ? Double(job.copiedBytes) / Double(job.totalBytes) : 0
        let filled = Int((fraction * 20).rounded(.down))
        let percent = String(format: "%5.1f%%", fraction * 100)
        let rate = String(format: "%.1f MiB/s", Double(job.bytesPerSecond) / 1_048_576)
        let eta = job.etaSeconds.map { "  ETA \($0) s" } ?? ""
        let phase = job.phase.rawValue + (job.paused ? " (paused)" : "")
        return "\(job.id) \(job.device): \(phase) [\(String(repeating: "#", count: filled))"
            + "\(String(repeating: " ", count: 20 - filled))] \(percent)  \(rate)\(eta)"
    }
}
