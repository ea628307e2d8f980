/// Messages (dm's `multipath_message`).
extension MultipathTarget {
    /// `queue_if_no_path`, `fail_if_no_path`, `fail_path <path>`, `reinstate_path <path>`,
    /// `switch_group <n>`, `enable_group <n>`, `disable_group <n>`. EINVAL for anything else,
    /// a path this target does not use, or a group outside 1...#groups.
    public func message(_ argv: [String]) throws -> String {
        switch (argv.first, argv.count) {
        case ("queue_if_no_path", 1):
            setQueueIfNoPath(true, saveOld: false)
        case ("fail_if_no_path", 1):
            setQueueIfNoPath(false, saveOld: false)
        case ("fail_path", 2):
            try path(named: argv[1]).fail()
        case ("reinstate_path", 2):
            try path(named: argv[1]).reinstate()
        case ("switch_group", 2):
            let group = try group(argv[1])
            state.withLock { state in
                state.nextGroup = group
                state.currentPath = nil
                for group in state.groups { group.bypassed = false }
            }
            context.triggerEvent(kind: .groupSwitched, detail: "group \(group.number)")
        case ("enable_group", 2), ("disable_group", 2):
            let group = try group(argv[1])
            let bypass = argv[0] == "disable_group"
            state.withLock { state in
                group.bypassed = bypass
                state.currentPath = nil
                state.currentGroup = nil
            }
            context.triggerEvent(kind: bypass ? .groupDisabled : .groupEnabled, detail: "group \(group.number)")
        default:
            throw MapperError(.EINVAL, "unrecognised multipath message '\(argv.joined(separator: " "))'")
        }
        return ""
    }

    private func path(named name: String) throws -> Path {
        guard let path = paths.first(where: { $0.name == name }) else {
            throw MapperError(.EINVAL, "this multipath target has no path '\(name)'")
        }
        return path
    }

    private func group(_ text: String) throws -> PriorityGroup {
        let groups = state.withLock { $0.groups }
        guard let number = Int(text), number >= 1, number <= groups.count else {
            throw MapperError(.EINVAL, "invalid priority group '\(text)' (1...\(groups.count))")
        }
        return groups[number - 1]
    }
}
