/// Parses multipath constructor arguments (SEMANTICS §5.1, dm's `multipath_ctr`):
/// `<#features> [queue_if_no_path] <#hw_args> [hw...] <#pgs> <initial_pg>` then per priority
/// group `<selector> <#selector_args> [args] <#paths> <#per_path_args>` then per path
/// `<path> [per_path_args]`.
///
/// Hardware-handler arguments are accepted, kept for the table view and otherwise ignored (no
/// pg_init). Every path must exist, be a path (not a backend or device), cover the target's
/// area, appear once, and lead to the same backend as the others.
struct MultipathArguments {
    var queueIfNoPath = false
    var hardwareHandler: [String] = []
    /// 1-based initial group; 0 only when there are no groups.
    var initialGroup = 0
    var groups: [PriorityGroup] = []

    init(context: TargetContext) throws {
        var reader = ArgReader(context.args)
        let featureCount = try reader.int("number of features", in: 0...16)
        for _ in 0..<featureCount {
            let feature = try reader.next("feature")
            guard feature == "queue_if_no_path" else {
                throw MapperError(.EINVAL, "unrecognised multipath feature '\(feature)'")
            }
            queueIfNoPath = true
        }
        let hardwareCount = try reader.int("number of hardware handler arguments", in: 0...64)
        for _ in 0..<hardwareCount { hardwareHandler.append(try reader.next("hardware handler argument")) }
        let groupCount = try reader.int("number of priority groups", in: 0...1024)
        initialGroup = try reader.int("initial priority group", in: 0...1024)
        guard (groupCount == 0) == (initialGroup == 0), initialGroup <= groupCount else {
            throw MapperError(.EINVAL, "invalid initial priority group \(initialGroup) for \(groupCount) groups")
        }
        var seen = Set<String>()
        var backend: (any Backend)?
        for number in 1...max(groupCount, 1) where groupCount > 0 {
            let selectorName = try reader.next("path selector of group \(number)")
            let selectorArgCount = try reader.int("number of selector arguments", in: 0...64)
            var selectorArgs: [String] = []
            for _ in 0..<selectorArgCount { selectorArgs.append(try reader.next("selector argument")) }
            let selector = try PathSelectors.make(name: selectorName, args: selectorArgs)
            let pathCount = try reader.int("number of paths in group \(number)", in: 1...1024)
            let perPathArgCount = try reader.int("number of per-path arguments", in: 0...selector.tableArgCount)
            var paths: [Path] = []
            for _ in 0..<pathCount {
                let name = try reader.next("path of group \(number)")
                guard context.lookUp(name) is Path else {
                    if context.lookUp(name) == nil { throw MapperError(.EINVAL, "no path named '\(name)'") }
                    throw MapperError(.EINVAL, "'\(name)' is not a path: multipath maps onto paths only")
                }
                guard seen.insert(name).inserted else {
                    throw MapperError(.EINVAL, "path '\(name)' appears twice")
                }
                // dm's dm_get_device(ti, path, ti->begin, ti->len): multipath does not shift sectors.
                guard let path = try context.getDevice(name, offset: context.start, length: context.length) as? Path
                else { throw MapperError(.EINVAL, "'\(name)' is not a path") }
                if let backend, backend !== path.backend {
                    throw MapperError(
                        .EINVAL,
                        "path '\(name)' leads to backend '\(path.backend.name)', not '\(backend.name)': all paths must reach the same backend"
                    )
                }
                backend = path.backend
                var args: [String] = []
                for _ in 0..<perPathArgCount { args.append(try reader.next("argument of path '\(name)'")) }
                try selector.addPath(path, args: args)
                paths.append(path)
            }
            groups.append(PriorityGroup(number: number, selector: selector, paths: paths))
        }
        try reader.finish()
    }
}
