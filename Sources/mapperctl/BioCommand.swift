import ArgumentParser
import Foundation
import MapperAPI

/// `bio list|show|wait`: the server's bios in flight, held or recently ended.
struct BioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bio", abstract: "Bios: I/O in flight, held, or recently ended.",
        subcommands: [List.self, Show.self, Wait.self])

    static func line(_ bio: Components.Schemas.Bio) -> [String] {
        [bio.id, bio.device, bio.op.rawValue, String(bio.offset), String(bio.length), bio.state.rawValue, bio.error ?? "-"]
    }

    static let headers = ["id", "device", "op", "offset", "length", "state", "error"]

    struct List: Verb {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List bios.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this device's.") var device: String?
        @Option(help: "Only bios in this state: inflight, queued, pushback, deferred, completed, failed.")
        var state: String?

        var label: String { "bio list" }

        func validate() throws {
            if let state, Components.Schemas.BioState(rawValue: state) == nil {
                throw ValidationError("unknown bio state '\(state)'")
            }
        }

        func execute(_ api: API) async throws {
            let list = try await api.client.listBios(
                query: .init(device: device, state: state.flatMap(Components.Schemas.BioState.init(rawValue:)))
            ).ok.body.json
            if global.json {
                try printJSON(list)
                return
            }
            print(Output.columns(BioCommand.headers, list.bios.map(BioCommand.line)))
        }
    }

    struct Show: Verb {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one bio.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The bio's id.") var id: String

        var label: String { "bio show \(id)" }

        func execute(_ api: API) async throws {
            let bio = try await api.client.getBio(path: .init(id: id)).ok.body.json
            if global.json {
                try printJSON(bio)
                return
            }
            print(Output.columns(BioCommand.headers, [BioCommand.line(bio)]))
        }
    }

    /// Polls the bio until it has ended (every 50 ms at first, backing off to 1 s; the API
    /// has no long poll per bio), with a progress line on a terminal. Exit status 1 when the
    /// bio failed (its error as the code).
    struct Wait: Verb {
        static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait for a bio to end.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The bio's id.") var id: String
        @Option(help: "Give up after this many milliseconds (ETIMEDOUT).") var timeoutMs: Int?

        var label: String { "bio wait \(id)" }

        func execute(_ api: API) async throws {
            let deadline = timeoutMs.map { ContinuousClock.now + .milliseconds($0) }
            let bio = try await Progress.during("waiting for bio \(id)") { () async throws -> Components.Schemas.Bio in
                var pause = Duration.milliseconds(50)
                while true {
                    let bio = try await api.client.getBio(path: .init(id: id)).ok.body.json
                    if bio.state == .completed || bio.state == .failed { return bio }
                    if let deadline, ContinuousClock.now + pause > deadline {
                        throw LocalFailure(code: "ETIMEDOUT", detail: "bio \(id) is still \(bio.state.rawValue)")
                    }
                    try await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(1))
                }
            }
            if global.json {
                try printJSON(bio)
            } else {
                print(Output.columns(BioCommand.headers, [BioCommand.line(bio)]))
            }
            if bio.state == .failed {
                throw LocalFailure(code: bio.error ?? "EIO", detail: "bio \(id) failed")
            }
        }
    }
}
