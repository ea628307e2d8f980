import ArgumentParser
import Foundation
import MapperAPI

/// `events [--after N] [--follow]`: the server's event log, oldest first, one per line
/// (`SEQ TIME KIND device=… path=… DETAIL`). `--follow` long-polls for new events until
/// Ctrl-C; with `--json` it prints one JSON object per event and line.
struct EventsCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Print the event log.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only events after this sequence number.") var after: Int64 = 0
    @Flag(name: [.customShort("f"), .long], help: "Keep printing new events.") var follow = false

    var label: String { "events" }

    func execute(_ api: API) async throws {
        var after = self.after
        let first = try await api.client.listEvents(query: .init(after: after, timeoutMs: 0)).ok.body.json
        if global.json && !follow {
            try printJSON(first)
            return
        }
        emit(first.events)
        after = max(after, first.last)
        guard follow else { return }
        while true {
            let page = try await Progress.during("following events after \(after)") {
                try await api.client.listEvents(query: .init(after: after, timeoutMs: 300_000)).ok.body.json
            }
            emit(page.events)
            after = max(after, page.last)
        }
    }

    private func emit(_ events: [Components.Schemas.Event]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let time = ISO8601DateFormatter()
        for event in events {
            if global.json {
                if let data = try? encoder.encode(event) { Output.line(String(decoding: data, as: UTF8.self)) }
            } else {
                var words = [String(event.seq), time.string(from: event.at), event.kind]
                if let device = event.device { words.append("device=\(device)") }
                if let path = event.path { words.append("path=\(path)") }
                if !event.detail.isEmpty { words.append(event.detail) }
                Output.line(words.joined(separator: " "))
            }
        }
    }
}
