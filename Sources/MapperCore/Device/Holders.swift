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
        var nextToken: UInt64 = 0
        var revocable: [UInt64: @Sendable () -> Void] = [:]
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

    /// Records an open from outside the engine that a forced removal may end: `revoke` is
    /// called (once, from the removing task, outside any lock) when the node is removed with
    /// `force`, and must close the opener's connection. Undo with ``closeExternal(_:)``.
    public func openExternal(revoke: @escaping @Sendable () -> Void) -> ExternalOpen {
        state.withLock { state in
            state.nextToken += 1
            state.external += 1
            state.revocable[state.nextToken] = revoke
            return ExternalOpen(token: state.nextToken)
        }
    }

    /// Undoes one ``openExternal(revoke:)``; a second call for the same open does nothing.
    public func closeExternal(_ open: ExternalOpen) {
        state.withLock { state in
            guard state.revocable.removeValue(forKey: open.token) != nil else { return }
            state.external = max(0, state.external - 1)
        }
    }

    /// Opens from outside the engine.
    public var externalOpenCount: Int { state.withLock { $0.external } }

    /// Opens by tables (devices whose live or inactive table maps onto this node).
    public var tableOpenCount: Int { state.withLock { $0.entries.values.reduce(0) { $0 + $1.count } } }

    /// Ends every revocable external open: forgets them and calls their `revoke`.
    func revokeExternal() {
        let revokers = state.withLock { state -> [@Sendable () -> Void] in
            let revokers = Array(state.revocable.values)
            state.external = max(0, state.external - revokers.count)
            state.revocable = [:]
            return revokers
        }
        for revoke in revokers { revoke() }
    }

    /// A handle for one ``openExternal(revoke:)``.
    public struct ExternalOpen: Sendable, Hashable {
        let token: UInt64
    }

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
