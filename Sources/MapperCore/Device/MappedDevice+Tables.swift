/// Table slots: load, clear and messages (SEMANTICS §3).
extension MappedDevice {
    /// Builds a table from `lines` and puts it in the inactive slot, replacing (and dropping)
    /// what was there. Allowed when active or suspended. A failed load leaves the previous
    /// inactive table in place. Errors are EINVAL naming the line.
    func load(_ lines: [TableLine], resolver: @escaping (String) -> (any BlockNode)?) async throws {
        if state.withLock({ $0.removed }) { throw MapperError(.ENODEV, "device '\(name)': removed") }
        let table = try Table.build(
            lines: lines, registry: engine.targetTypes, engine: engine, device: self, resolver: resolver)
        let actions: [DeviceState.Machine.Action]
        do {
            actions = try update(refusable: { try $0.load(table) })
        } catch {
            table.destroy(holder: self)
            throw error
        }
        try await carryOut(actions, Step(loaded: table))
    }

    /// Drops the inactive table (no-op without one).
    public func clear() async throws {
        try await carryOut(update { $0.clear() }, Step())
    }

    /// Sends `text` (split on white space) to the live target holding `sector` (dm's
    /// `target_message`). Allowed while suspended. EINVAL without a live table, beyond the
    /// end, for an empty message, or when the target rejects it.
    ///
    /// Returns once the state changes the message made (path states, target state, event
    /// number) are durable.
    public func message(sector: UInt64 = 0, _ text: String) async throws -> String {
        let argv = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        guard !argv.isEmpty else { throw MapperError(.EINVAL, "empty message") }
        guard let table = liveTable else {
            throw MapperError(.EINVAL, "device '\(name)' has no live table")
        }
        guard let instance = table.target(for: sector) else {
            throw MapperError(.EINVAL, "sector \(sector) is beyond the end of '\(name)'")
        }
        do {
            let reply = try instance.target.message(argv)
            await engine.store.committed()
            return reply
        } catch let error as MapperError {
            throw MapperError(error.errno, "\(instance.type) target at sector \(instance.start): \(error.message)")
        }
    }
}
