import ArgumentParser
import MapperAPI

/// `message NAME SECTOR MESSAGE...`: sends the words to the target holding SECTOR and prints
/// its reply, if any.
struct MessageCommand: Verb {
    static let configuration = CommandConfiguration(
        commandName: "message", abstract: "Send a message to a target (e.g. fail_path p1).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @Argument(help: "A sector of the target to send to.") var sector: Int64
    @Argument(help: "The message's words.") var words: [String] = []

    var label: String { "message \(name) \(sector)" }

    func validate() throws {
        if words.isEmpty { throw ValidationError("a message needs at least one word") }
        if sector < 0 { throw ValidationError("the sector must be 0 or more") }
    }

    func execute(_ api: API) async throws {
        let reply = try await api.client.sendMessage(
            path: .init(name: name), body: .json(.init(sector: sector, message: words.joined(separator: " ")))
        ).ok.body.json
        if global.json {
            try printJSON(reply)
        } else if !reply.reply.isEmpty {
            print(reply.reply)
        }
    }
}
