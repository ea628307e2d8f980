import ArgumentParser
import MapperAPI

/// `create NAME [--uuid U] [--readonly] [--notable | --table TEXT | TABLE_FILE]`: as
/// `dmsetup create`, the table (from `--table`, the file or stdin) is loaded and the device
/// resumed; `--notable` creates it without one.
struct CreateCommand: Verb {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a device, load its table and resume it.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @Option(name: [.customShort("u"), .long], help: "The device's uuid.") var uuid: String?
    @Flag(name: [.customShort("r"), .long], help: "Refuse writes.") var readonly = false
    @Flag(name: [.customShort("n"), .long], help: "Create the device without a table.") var notable = false
    @OptionGroup var source: TableSource

    var label: String { "create \(name)" }

    func validate() throws {
        if notable && (source.table != nil || source.tableFile != nil) {
            throw ValidationError("--notable takes no table")
        }
    }

    func execute(_ api: API) async throws {
        let table = notable ? nil : Components.Schemas.Table(text: try source.read())
        let device = try await api.client.createDevice(
            body: .json(.init(name: name, uuid: uuid, readOnly: readonly ? true : nil, table: table))
        ).created.body.json
        if global.json { try printJSON(device) }
    }
}
