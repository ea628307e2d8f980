import ArgumentParser
import MapperAPI

/// `suspend NAME [--noflush] [--nolockfs] [--timeout-ms N]`. A suspend without noflush waits
/// for in-flight I/O; a progress line shows it on a terminal.
struct SuspendCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "suspend", abstract: "Suspend a device.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @Flag(help: "Hand I/O queued in targets back to the core and keep it (noflush pushback).") var noflush = false
    @Flag(help: "Accepted for dmsetup's sake (there is no filesystem to freeze).") var nolockfs = false
    @Option(help: "Stop waiting for in-flight I/O after this many milliseconds (EINTR; the device stays active).")
    var timeoutMs: Int64?

    var label: String { "suspend \(name)" }

    func execute(_ api: API) async throws {
        let device = try await Progress.during("suspending \(name)") {
            try await api.client.suspendDevice(
                path: .init(name: name),
                body: .json(.init(noflush: noflush ? true : nil, nolockfs: nolockfs ? true : nil, timeoutMs: timeoutMs))
            ).ok.body.json
        }
        if global.json { try printJSON(device) }
    }
}
