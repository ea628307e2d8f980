import Synchronization

/// The open count of a block node: which mapped devices reference it from a table (live or
/// inactive), and how many times, plus opens from outside the engine (exports).
///
/// dm counts an open for every `dm_get_device` a constructor makes; so does this. A node with
/// holders cannot be removed (EBUSY).
public final class Holders: Sendable {
    private struct Entry {
        let device: MappedDevice
        var count: Int
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var external = 0
    }

    private let state = Mutex(State())

    public init() {}

    func add(_ device: MappedDevice) {
        state.withLock { state in
            state.entries[ObjectIdentifier(device), default: Entry(device: device, count: 0)].count += 1
        }
    }

    func remove(_ device: MappedDevice) {
        state.withLock { state in
            let key = ObjectIdentifier(device)
            guard var entry = state.entries[key] else { return }
            entry.count -= 1
            state.entries[key] = entry.count > 0 ? entry : nil
        }
    }

    /// Records an open from outside the engine (for example an export); undo with ``closeExternal()``.
    public func openExternal() { state.withLock { $0.external += 1 } }

    /// Undoes one ``openExternal()``.
    public func closeExternal() { state.withLock { $0.external = max(0, $0.external - 1) } }

    /// Table references plus external opens.
    public var openCount: Int {
        state.withLock { state in state.entries.values.reduce(state.external) { $0 + $1.count } }
    }

    /// The distinct mapped devices that hold this node, sorted by name.
    public var devices: [MappedDevice] {
        state.withLock { $0.entries.values.map(\.device) }.sorted { $0.name < $1.name }
    }

    /// The names of ``devices``.
    public var deviceNames: [String] { devices.map(\.name) }
}
