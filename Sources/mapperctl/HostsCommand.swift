import ArgumentParser
import Foundation
import MapperAPI

/// `hosts`: the hosts sharing the store, their leases and the devices each serves.
struct HostsCommand: Verb {
    static let configuration = CommandConfiguration(
        commandName: "hosts", abstract: "List the hosts sharing the store, their leases and devices.")

    @OptionGroup var global: GlobalOptions

    var label: String { "hosts" }

    func execute(_ api: API) async throws {
        let list = try await api.client.listHosts().ok.body.json
        if global.json {
            try printJSON(list)
            return
        }
        let format = ISO8601DateFormatter()
        let rows = list.hosts.map { host -> [String] in
            let lease =
                host.leaseMs == 0
                ? "-" : host.claimable ? "claimable" : host.expired ? "expired" : "held"
            let me = host.id == list._self ? (list.fenced == true ? " (this host, fenced)" : " (this host)") : ""
            return [
                host.id + me, lease, host.leaseMs == 0 ? "-" : format.string(from: host.leaseExpiresAt),
                host.devices.isEmpty ? "-" : host.devices.map { "\($0.name)@\($0.epoch)" }.joined(separator: ","),
            ]
        }
        print(Output.columns(["host", "lease", "expires", "devices"], rows))
    }
}
