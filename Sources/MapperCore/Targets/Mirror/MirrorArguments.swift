/// A `mirror` table line's arguments, in dm-raid1's syntax:
/// `<log_type> <#log_args> <log_args...> <#mirrors> <dev> <offset> [<dev> <offset>...]
/// [<#features> handle_errors]`.
///
/// Log types: `core <region_size> [sync|nosync]` (the region state in memory only: a restart
/// resyncs every region) and `disk <log_dev> <region_size> [sync|nosync]` (the region state
/// on `log_dev`, in ``RegionLogFormat``: a restart resyncs only the regions that may differ).
/// Region sizes are powers of two, in sectors.
struct MirrorArguments {
    enum LogSync: String {
        /// Every region starts in sync (dm's `nosync`: the mirrors are known to be equal).
        case nosync
        /// Every region starts out of sync and is copied (dm's `sync`, forced resync).
        case sync
        /// The log decides (a `core` log knows nothing: every region is copied).
        case `default`
    }

    let logType: String
    /// The `disk` log's device and layout (`nil` for `core`).
    let logDevice: (device: any BlockNode, format: RegionLogFormat)?
    let regionSize: UInt64
    let logSync: LogSync
    let legs: [(device: any BlockNode, offset: UInt64)]
    let handleErrors: Bool

    init(context: TargetContext) throws {
        var reader = ArgReader(context.args)
        logType = try reader.next("log type")
        guard logType == "core" || logType == "disk" else {
            throw MapperError(.EINVAL, "mirror log type '\(logType)' is neither core nor disk")
        }
        let disk = logType == "disk"
        let logArgs = try reader.int("number of log arguments", in: disk ? 2...3 : 1...2) - (disk ? 1 : 0)
        let logName = disk ? try reader.next("log device") : nil
        regionSize = try reader.number("region size", in: 1...UInt64(UInt32.max))
        guard regionSize & (regionSize - 1) == 0 else {
            throw MapperError(.EINVAL, "region size \(regionSize) is not a power of two")
        }
        if logArgs == 2 {
            let word = try reader.next("log sync option")
            guard let sync = LogSync(rawValue: word), sync != .default else {
                throw MapperError(.EINVAL, "log option '\(word)' is neither sync nor nosync")
            }
            logSync = sync
        } else {
            logSync = .default
        }
        if let logName {
            let regions = (context.length + regionSize - 1) / regionSize
            guard regions <= UInt64(Int32.max) else {
                throw MapperError(.EINVAL, "\(regions) regions: use a larger region size")
            }
            let format = RegionLogFormat(regionSize: regionSize, regionCount: Int(regions))
            logDevice = (try context.getDevice(logName, offset: 0, length: format.sectors), format)
        } else {
            logDevice = nil
        }
        let mirrors = try reader.int("number of mirrors", in: 2...8)
        var legs: [(device: any BlockNode, offset: UInt64)] = []
        for index in 0..<mirrors {
            let name = try reader.next("device of mirror \(index)")
            let offset = try reader.number("offset of mirror \(index)")
            legs.append((try context.getDevice(name, offset: offset, length: context.length), offset))
        }
        self.legs = legs
        if reader.remaining > 0 {
            let features = try reader.int("number of features", in: 0...1)
            if features == 1 {
                let feature = try reader.next("feature")
                guard feature == "handle_errors" else {
                    throw MapperError(.EINVAL, "unknown mirror feature '\(feature)'")
                }
            }
            handleErrors = features == 1
        } else {
            handleErrors = false
        }
        try reader.finish()
    }

    /// The log part of the table line, as dm prints it.
    var logTable: String {
        let args =
            (logDevice.map { [$0.device.name] } ?? []) + ["\(regionSize)"]
            + (logSync == .default ? [] : [logSync.rawValue])
        return "\(logType) \(args.count) " + args.joined(separator: " ")
    }
}
