import ArgumentParser
import Foundation
import MapperAPI

/// `job list|show|pause|resume|cancel|throttle`: move jobs.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "Move jobs: list, show, pause, resume, cancel, throttle.",
        subcommands: [List.self, Show.self, Pause.self, Resume.self, Cancel.self, Throttle.self])

    static let headers = ["id", "device", "from", "to", "phase", "copied", "total", "rate/s", "eta", "error"]

    static func line(_ job: Components.Schemas.Job) -> [String] {
        [
            job.id, job.device, job.from, job.to, job.phase.rawValue + (job.paused ? " (paused)" : ""),
            Output.size(sectors: job.copiedBytes / 512), Output.size(sectors: job.totalBytes / 512),
            Output.size(sectors: job.bytesPerSecond / 512), job.etaSeconds.map { "\($0) s" } ?? "-", job.error ?? "-",
        ]
    }

    /// Prints a job as a table row (or JSON with `--json`).
    static func show(_ job: Components.Schemas.Job, json: Bool) throws {
        if json {
            print(try Output.json(job))
        } else {
            print(Output.columns(headers, [line(job)]))
        }
    }

    struct List: Verb {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List jobs, oldest first.")
        @OptionGroup var global: GlobalOptions
        var label: String { "job list" }

        func execute(_ api: API) async throws {
            let list = try await api.client.listJobs().ok.body.json
            if global.json {
                try printJSON(list)
            } else {
                print(Output.columns(JobCommand.headers, list.jobs.map(JobCommand.line)))
            }
        }
    }

    struct Show: Verb {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one job.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job's id (move-N).") var id: String
        var label: String { "job show \(id)" }

        func execute(_ api: API) async throws {
            try JobCommand.show(try await api.client.getJob(path: .init(id: id)).ok.body.json, json: global.json)
        }
    }

    struct Pause: Verb {
        static let configuration = CommandConfiguration(commandName: "pause", abstract: "Pause a job's copy.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job's id.") var id: String
        var label: String { "job pause \(id)" }

        func execute(_ api: API) async throws {
            try JobCommand.show(try await api.client.pauseJob(path: .init(id: id)).ok.body.json, json: global.json)
        }
    }

    struct Resume: Verb {
        static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a paused copy.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job's id.") var id: String
        var label: String { "job resume \(id)" }

        func execute(_ api: API) async throws {
            try JobCommand.show(try await api.client.resumeJob(path: .init(id: id)).ok.body.json, json: global.json)
        }
    }

    struct Cancel: Verb {
        static let configuration = CommandConfiguration(
            commandName: "cancel", abstract: "Cancel a job: the device goes back to where it was.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job's id.") var id: String
        @Flag(help: "Return at once instead of waiting until the device is back.") var noWait = false
        var label: String { "job cancel \(id)" }

        func execute(_ api: API) async throws {
            var job = try await api.client.cancelJob(path: .init(id: id)).accepted.body.json
            if !noWait { job = try await MoveCommand.follow(job, api) }
            try JobCommand.show(job, json: global.json)
        }
    }

    struct Throttle: Verb {
        static let configuration = CommandConfiguration(
            commandName: "throttle", abstract: "Set a job's copy rate limit in bytes per second (0: none).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The job's id.") var id: String
        @Argument(help: "Bytes per second (0: unlimited).") var bytesPerSecond: Int64
        var label: String { "job throttle \(id)" }

        func validate() throws {
            if bytesPerSecond < 0 { throw ValidationError("the rate must not be negative") }
        }

        func execute(_ api: API) async throws {
            let job = try await api.client.throttleJob(
                path: .init(id: id), body: .json(.init(maxBytesPerSecond: bytesPerSecond))
            ).ok.body.json
            try JobCommand.show(job, json: global.json)
        }
    }
}
