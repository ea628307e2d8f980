import ArgumentParser
import MapperAPI

/// `wait NAME [EVENT_NR]`: returns once the device's event number is above EVENT_NR (default:
/// its number now, so the next event), as `dmsetup wait` does. Long-polls the server, with a
/// progress line on a terminal; Ctrl-C stops it. Prints nothing (the event number with
/// `--json`).
struct WaitCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait for a device's next event.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @Argument(help: "Wait until the event number is above this.") var eventNr: Int64?

    var label: String { "wait \(name)" }

    func validate() throws {
        if let eventNr, !(0...4_294_967_295).contains(eventNr) {
            throw ValidationError("the event number must be between 0 and 4294967295")
        }
    }

    func execute(_ api: API) async throws {
        let after: Int64
        if let eventNr {
            after = eventNr
        } else {
            after = try await api.client.getDevice(path: .init(name: name)).ok.body.json.eventNr
        }
        let reached = try await Progress.during("waiting for an event on \(name) after \(after)") {
            while true {
                let current = try await api.client.waitDeviceEvent(
                    path: .init(name: name), query: .init(after: after, timeoutMs: 300_000)
                ).ok.body.json
                if current.eventNr > after { return current }
            }
        }
        if global.json { try printJSON(reached) }
    }
}
