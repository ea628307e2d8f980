import ArgumentParser
import MapperAPI

/// `backend create|list|resize|remove`: files (in the server's data directory) or remote NBD
/// exports that act as disks.
struct BackendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backend", abstract: "Backends: files or NBD exports acting as disks.",
        subcommands: [Create.self, List.self, Resize.self, Remove.self])

    struct Create: Verb {
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create a backend on a file or an NBD export.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backend's name.") var name: String
        @Option(help: "A file, relative to the server's data directory (created if missing).") var file: String?
        @Option(help: "An NBD export: nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH.") var uri: String?
        @Option(help: "Size in bytes (a multiple of 512; required for a new file).") var size: Int64?

        var label: String { "backend create \(name)" }

        func validate() throws {
            if (file == nil) == (uri == nil) { throw ValidationError("give --file or --uri, not both") }
        }

        func execute(_ api: API) async throws {
            let backend = try await api.client.createBackend(
                body: .json(.init(name: name, file: file, uri: uri, sizeBytes: size))
            ).created.body.json
            if global.json { try printJSON(backend) }
        }
    }

    struct List: Verb {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List backends.")

        @OptionGroup var global: GlobalOptions

        var label: String { "backend list" }

        func execute(_ api: API) async throws {
            let list = try await api.client.listBackends().ok.body.json
            if global.json {
                try printJSON(list)
                return
            }
            let rows = list.backends.map { backend -> [String] in
                let source = backend.kind == .file ? backend.file ?? "" : backend.uri ?? ""
                let connected = backend.connected.map { $0 ? "yes" : "no" } ?? "-"
                return [
                    backend.name, backend.kind.rawValue, Output.size(sectors: backend.sizeSectors), connected,
                    backend.usedBy.isEmpty ? "-" : backend.usedBy.joined(separator: ","), source,
                ]
            }
            print(Output.columns(["name", "kind", "size", "connected", "used_by", "source"], rows))
        }
    }

    struct Resize: Verb {
        static let configuration = CommandConfiguration(
            commandName: "resize", abstract: "Grow a file backend (a thin pool's data device, before its reload).")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backend's name.") var name: String
        @Option(help: "The new size in bytes (a multiple of 512, not smaller than now).") var size: Int64

        var label: String { "backend resize \(name)" }

        func execute(_ api: API) async throws {
            let backend = try await api.client.resizeBackend(
                path: .init(name: name), body: .json(.init(sizeBytes: size))
            ).ok.body.json
            if global.json { try printJSON(backend) }
        }
    }

    struct Remove: Verb {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove an unused backend.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backend's name.") var name: String

        var label: String { "backend remove \(name)" }

        func execute(_ api: API) async throws {
            _ = try await api.client.deleteBackend(path: .init(name: name)).noContent
            if global.json { print("{}") }
        }
    }
}
