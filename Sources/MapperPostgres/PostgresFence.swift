import Logging
import MapperCore
import MapperStore
import PostgresNIO
import Synchronization

/// What this host may write for: the devices it owns, at the epochs it knows, and those it
/// lost. The writer asks ``check(_:_:logger:)`` first in every transaction that writes
/// device rows; the store keeps the map up to date as devices are created, renamed, removed
/// and claimed.
///
/// Threading: the map is behind a lock; ``check(_:_:logger:)`` runs on the writer's task,
/// and the lost-device handler is called from there (it must not block).
final class PostgresFence: Sendable {
    private struct State {
        var owned: [String: Int64] = [:]
        var lost: Set<String> = []
        var handler: (@Sendable (String) -> Void)?
    }

    let host: HostIdentity
    private let state = Mutex(State())

    init(host: HostIdentity) { self.host = host }

    /// Takes the row locks of the `devices` this host owns (`FOR SHARE`: a claim, which takes
    /// them `FOR UPDATE`, waits for this transaction) and returns those it may not write for:
    /// lost before, or found with another owner or epoch now (then lost, and reported once).
    /// Devices it neither owns nor lost (being created in this transaction) pass.
    func check(_ devices: Set<String>, _ db: PostgresConnection, logger: Logger) async throws -> [String: MapperError] {
        let (known, lost) = state.withLock { state -> ([(String, Int64)], [String]) in
            var known: [(String, Int64)] = []
            var lost: [String] = []
            for device in devices {
                if state.lost.contains(device) {
                    lost.append(device)
                } else if let epoch = state.owned[device] {
                    known.append((device, epoch))
                }
            }
            return (known, lost)
        }
        var refused: [String: MapperError] = [:]
        for device in lost { refused[device] = Self.lostError(device) }
        guard !known.isEmpty else { return refused }
        let names = known.map(\.0)
        let epochs = known.map(\.1)
        var stale: [(String, String?, Int64)] = []
        let rows = try await db.query(
            """
            SELECT d.name, d.owner, d.epoch, (d.owner IS DISTINCT FROM \(host.id) OR d.epoch <> f.epoch)
            FROM device d JOIN unnest(\(names)::text[], \(epochs)::bigint[]) AS f(name, epoch) ON d.name = f.name
            FOR SHARE OF d
            """, logger: logger)
        for try await (name, owner, epoch, isStale) in rows.decode((String, String?, Int64, Bool).self) where isStale {
            stale.append((name, owner, epoch))
        }
        for (name, owner, epoch) in stale {
            logger.error(
                "device claimed by another host: this host stops serving it",
                metadata: ["device": "\(name)", "owner": "\(owner ?? "none")", "epoch": "\(epoch)"])
            markLost(name)
            refused[name] = Self.lostError(name)
        }
        return refused
    }

    static func lostError(_ device: String) -> MapperError {
        MapperError(.ENODEV, "device '\(device)' is owned by another host now (stale epoch): not written")
    }

    /// The devices this host writes for, with epochs.
    var owned: [String: Int64] { state.withLock { $0.owned } }

    /// Whether the device was lost to another host.
    func isLost(_ device: String) -> Bool { state.withLock { $0.lost.contains(device) } }

    /// This host owns `device` at `epoch` (adopted, created or claimed).
    func own(_ device: String, epoch: Int64) {
        state.withLock { state in
            state.owned[device] = epoch
            state.lost.remove(device)
        }
    }

    /// The device was removed by this host.
    func forget(_ device: String) { _ = state.withLock { $0.owned.removeValue(forKey: device) } }

    /// The device was renamed by this host.
    func rename(_ from: String, to: String) {
        state.withLock { state in
            if let epoch = state.owned.removeValue(forKey: from) { state.owned[to] = epoch }
        }
    }

    /// Another host owns `device` now: nothing more is written for it; the handler hears of
    /// it once.
    func markLost(_ device: String) {
        let handler = state.withLock { state -> (@Sendable (String) -> Void)? in
            guard state.owned.removeValue(forKey: device) != nil else { return nil }
            state.lost.insert(device)
            return state.handler
        }
        handler?(device)
    }

    func onLost(_ handler: @escaping @Sendable (String) -> Void) { state.withLock { $0.handler = handler } }
}
