import MapperAPI

/// dmsetup's output formats, for mapperd's resources. There are no major and minor numbers:
/// the lines that would hold them (`Major, minor:`, `Read Ahead:`) are left out, and `info -c`
/// has no `Maj`/`Min` columns. Everything else is as dmsetup prints it.
enum DMFormat {
    typealias Device = Components.Schemas.Device

    /// `dmsetup info NAME`: the long form, ending with an empty line.
    static func info(_ device: Device) -> String {
        var lines = [
            "Name:              \(device.name)",
            "State:             \(device.state == .suspended ? "SUSPENDED" : "ACTIVE")\(device.readOnly ? " (READ-ONLY)" : "")",
            "Tables present:    \(tablesPresent(device.tables))",
            "Open count:        \(device.openCount)",
            "Event number:      \(device.eventNr)",
            "Number of targets: \(device.targetCount)",
        ]
        if let uuid = device.uuid, !uuid.isEmpty { lines.append("UUID: \(uuid)") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func tablesPresent(_ tables: Device.TablesPayload) -> String {
        switch (tables.live, tables.inactive) {
        case (false, false): "None"
        case (true, false): "LIVE"
        case (false, true): "INACTIVE"
        case (true, true): "LIVE & INACTIVE"
        }
    }

    /// `dmsetup info -c`'s header.
    static let columnsHeader = "Name             Stat Open Targ Event  UUID"

    /// One `dmsetup info -c` row: name, the four status letters (`L` live table, `I`
    /// inactive, `s` suspended, `r`/`w`), open count, targets, event number, uuid.
    static func columns(_ device: Device) -> String {
        let stat =
            (device.tables.live ? "L" : "-") + (device.tables.inactive ? "I" : "-")
            + (device.state == .suspended ? "s" : "-") + (device.readOnly ? "r" : "w")
        return pad(device.name, 16) + " " + stat + " " + right(device.openCount, 4) + " "
            + right(device.targetCount, 4) + " " + right(Int(device.eventNr), 6) + " " + (device.uuid ?? "")
    }

    /// `START LENGTH TYPE ARGS`, as `dmsetup table` and `status` print a target (a space
    /// follows the type even when there are no arguments, as in dmsetup).
    static func targetLine(start: Int64, length: Int64, type: String, args: String) -> String {
        "\(start) \(length) \(type) \(args)"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    private static func right(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
