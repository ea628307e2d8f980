/// INFO and TABLE views (dm's `multipath_status`).
extension MultipathTarget {
    /// A structured snapshot for the API.
    public var structuredStatus: MultipathStatus {
        state.withLock { state in
            MultipathStatus(
                queueIfNoPath: state.queueIfNoPath, queueSize: state.queue.count,
                currentGroup: Self.groupNumber(state),
                groups: state.groups.map { group in
                    MultipathStatus.GroupStatus(
                        number: group.number, state: Self.groupState(group, state), selector: group.selector.name,
                        paths: group.paths.map {
                            MultipathStatus.PathStatus(name: $0.name, active: $0.isActive, failCount: $0.failCount)
                        })
                })
        }
    }

    private static func groupNumber(_ state: MultipathState) -> Int {
        state.nextGroup?.number ?? state.currentGroup?.number ?? 1
    }

    private static func groupState(_ group: PriorityGroup, _ state: MultipathState) -> String {
        if group.bypassed { return "disabled" }
        return group === state.currentGroup ? "active" : "enabled"
    }

    /// `1 <queue_size> 0 <#pgs> <pg_num> { <A|E|D> 0 <#paths> <#info> { <path> <A|F> <failCount> [info] }... }...`
    public func status() -> String {
        state.withLock { state in
            var fields = ["1", "\(state.queue.count)", "0", "\(state.groups.count)", "\(Self.groupNumber(state))"]
            for group in state.groups {
                let letter = group.bypassed ? "D" : (group === state.currentGroup ? "A" : "E")
                fields += [letter, "0", "\(group.paths.count)", "\(group.selector.infoArgCount)"]
                for path in group.paths {
                    fields += [path.name, path.isActive ? "A" : "F", "\(path.failCount)"]
                    fields += group.selector.infoArgs(for: path)
                }
            }
            return fields.joined(separator: " ")
        }
    }

    /// The constructor arguments, normalised (features from the live `queue_if_no_path`, the
    /// current group as the initial one, as dm prints them).
    public func table() -> String {
        state.withLock { state in
            var fields = state.queueIfNoPath ? ["1", "queue_if_no_path"] : ["0"]
            fields.append("\(hardwareHandler.count)")
            fields += hardwareHandler
            fields += ["\(state.groups.count)", state.groups.isEmpty ? "0" : "\(Self.groupNumber(state))"]
            for group in state.groups {
                fields += [group.selector.name, "0", "\(group.paths.count)", "\(group.selector.tableArgCount)"]
                for path in group.paths {
                    fields.append(path.name)
                    fields += group.selector.tableArgs(for: path)
                }
            }
            return fields.joined(separator: " ")
        }
    }
}
