import ArgumentParser
import MapperAPI

/// `path create|list|fail|reinstate|fault|remove`: routes to a backend that multipath tables
/// name, with dm's fail/reinstate and simulated faults.
struct PathCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "path", abstract: "Paths to backends (what multipath tables name).",
        subcommands: [Create.self, List.self, Fail.self, Reinstate.self, Fault.self, Remove.self])

    /// Prints a path as JSON, or nothing.
    static func show(_ path: Components.Schemas.Path, _ global: GlobalOptions) throws {
        if global.json { print(try Output.json(path)) }
    }

    struct Create: Verb {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a path.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The path's name.") var name: String
        @Argument(help: "The backend it leads to.") var backend: String
        @Option(help: "Another route to a remote backend's export (an NBD URI).") var uri: String?
        @Option(help: "Check the path every this many milliseconds.") var checkerIntervalMs: Int?
        @Option(help: "A check fails after this many milliseconds.") var checkerTimeoutMs: Int?

        var label: String { "path create \(name)" }

        func validate() throws {
            if (checkerIntervalMs == nil) != (checkerTimeoutMs == nil) {
                throw ValidationError("give --checker-interval-ms and --checker-timeout-ms together")
            }
        }

        func execute(_ api: API) async throws {
            let checker = checkerIntervalMs.map { Components.Schemas.Checker(intervalMs: $0, timeoutMs: checkerTimeoutMs ?? 0) }
            let path = try await api.client.createPath(
                body: .json(.init(name: name, backend: backend, uri: uri, checker: checker))
            ).created.body.json
            try PathCommand.show(path, global)
        }
    }

    struct List: Verb {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List paths.")

        @OptionGroup var global: GlobalOptions

        var label: String { "path list" }

        func execute(_ api: API) async throws {
            let list = try await api.client.listPaths().ok.body.json
            if global.json {
                try printJSON(list)
                return
            }
            let rows = list.paths.map { path -> [String] in
                let check = path.lastCheck.map { $0.result == .passed ? "passed" : "failed \($0.error ?? "")" } ?? "-"
                var fault = path.fault.mode.rawValue
                if let delay = path.fault.delayMs, path.fault.mode == .delay { fault += " \(delay)ms" }
                return [
                    path.name, path.backend, path.state.rawValue, String(path.failCount), fault,
                    path.transport.kind.rawValue, check, path.usedBy.isEmpty ? "-" : path.usedBy.joined(separator: ","),
                ]
            }
            print(
                Output.columns(
                    ["name", "backend", "state", "fail_count", "fault", "transport", "last_check", "used_by"], rows))
        }
    }

    struct Fail: Verb {
        static let configuration = CommandConfiguration(commandName: "fail", abstract: "Fail a path (dm's fail_path).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The path's name.") var name: String

        var label: String { "path fail \(name)" }

        func execute(_ api: API) async throws {
            try PathCommand.show(try await api.client.failPath(path: .init(name: name)).ok.body.json, global)
        }
    }

    struct Reinstate: Verb {
        static let configuration = CommandConfiguration(
            commandName: "reinstate", abstract: "Reinstate a path (dm's reinstate_path).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The path's name.") var name: String

        var label: String { "path reinstate \(name)" }

        func execute(_ api: API) async throws {
            try PathCommand.show(try await api.client.reinstatePath(path: .init(name: name)).ok.body.json, global)
        }
    }

    struct Fault: Verb {
        static let configuration = CommandConfiguration(
            commandName: "fault", abstract: "Simulate a fault on a path: none, error, stall or delay.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The path's name.") var name: String
        @Argument(help: "none, error, stall or delay.") var mode: String
        @Option(help: "With delay: milliseconds per I/O.") var delayMs: Int?

        var label: String { "path fault \(name)" }

        func validate() throws {
            guard Components.Schemas.Fault.ModePayload(rawValue: mode) != nil else {
                throw ValidationError("the fault mode must be none, error, stall or delay, not '\(mode)'")
            }
        }

        func execute(_ api: API) async throws {
            let fault = Components.Schemas.Fault(mode: .init(rawValue: mode)!, delayMs: delayMs)
            try PathCommand.show(
                try await api.client.setPathFault(path: .init(name: name), body: .json(fault)).ok.body.json, global)
        }
    }

    struct Remove: Verb {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove an unused path.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The path's name.") var name: String

        var label: String { "path remove \(name)" }

        func execute(_ api: API) async throws {
            _ = try await api.client.deletePath(path: .init(name: name)).noContent
            if global.json { print("{}") }
        }
    }
}
