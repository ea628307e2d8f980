import Foundation
import Logging
import MapperCore
import MapperStore
import PostgresNIO

/// Leases, epochs and claims on the shared database (``HostOwnership``). The statements and
/// their locks are what make the fencing hold:
/// - a commit of the writer takes `FOR SHARE` locks on the device rows it writes for, and
///   checks owner and epoch (``PostgresFence``);
/// - a claim takes the device row `FOR UPDATE`, then the owner's host row `FOR UPDATE`, and
///   bumps the epoch only if the owner's lease ran out more than the grace ago by the
///   database's `now()`;
/// - a renewal updates the host row (waiting for a claim that holds it), then reads which
///   devices the host owns.
/// So a claim and a commit of the old owner never interleave, and a renewal never revives
/// a host's hold on a device claimed meanwhile.
extension PostgresStore: HostOwnership {
    public var ownership: (any HostOwnership)? { fence == nil ? nil : self }

    public var hostID: String { fence?.host.id ?? "" }

    public var timing: HostLease.Timing { fence?.host.timing ?? HostLease.Timing(lease: .seconds(10)) }

    private var leaseSeconds: Double { Double(fence?.host.leaseMs ?? 10_000) / 1000 }

    public func start() async throws -> OwnershipStart {
        guard let fence else { return OwnershipStart(owned: [:], foreign: [:]) }
        let host = fence.host.id
        let seconds = leaseSeconds
        let logger = self.logger
        let result = try await leaseLink.use { db -> OwnershipStart in
            try await db.query("BEGIN", logger: logger)
            do {
                try await db.query(
                    """
                    INSERT INTO host(id, lease_ms, lease_expires, renewed_at, started_at)
                    VALUES (\(host), \(fence.host.leaseMs), now() + make_interval(secs => \(seconds)), now(), now())
                    ON CONFLICT (id) DO UPDATE SET lease_ms = EXCLUDED.lease_ms, lease_expires = EXCLUDED.lease_expires,
                        renewed_at = EXCLUDED.renewed_at, started_at = EXCLUDED.started_at
                    """, logger: logger)
                var owned: [String: Int64] = [:]
                for try await (name, epoch) in try await db.query(
                    """
                    UPDATE device SET owner = \(host), epoch = epoch + 1
                    WHERE owner = \(host) OR owner IS NULL RETURNING name, epoch
                    """, logger: logger
                ).decode((String, Int64).self) {
                    owned[name] = epoch
                }
                var foreign: [String: String] = [:]
                for try await (name, owner) in try await db.query(
                    "SELECT name, owner FROM device WHERE owner <> \(host)", logger: logger
                ).decode((String, String).self) {
                    foreign[name] = owner
                }
                try await db.query("COMMIT", logger: logger)
                return OwnershipStart(owned: owned, foreign: foreign)
            } catch {
                _ = try? await db.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        for (name, epoch) in result.owned { fence.own(name, epoch: epoch) }
        return result
    }

    public func renew() async throws -> [String] {
        guard let fence else { return [] }
        let host = fence.host.id
        let seconds = leaseSeconds
        let logger = self.logger
        let stale = try await leaseLink.use { db -> [String] in
            let known = fence.owned
            var renewed = false
            for try await _ in try await db.query(
                """
                UPDATE host SET lease_expires = now() + make_interval(secs => \(seconds)), renewed_at = now()
                WHERE id = \(host) RETURNING id
                """, logger: logger
            ).decode(String.self) {
                renewed = true
            }
            guard renewed else { throw MapperError(.EIO, "host '\(host)' has no row in the store: restart it") }
            // Rows not there yet (a creation not committed) or gone (removed here) are not lost.
            var stale: [String] = []
            for try await (name, owner, epoch) in try await db.query(
                "SELECT name, owner, epoch FROM device WHERE name = ANY(\(Array(known.keys))::text[])", logger: logger
            ).decode((String, String?, Int64).self) where owner != host || epoch != known[name] {
                stale.append(name)
            }
            return stale
        }
        for name in stale {
            logger.error("device claimed by another host: this host stops serving it", metadata: ["device": "\(name)"])
            fence.markLost(name)
        }
        return stale
    }

    public func abandonRenewal() { leaseLink.abandon() }

    public func abandonReads() { reader.abandon() }

    public func hosts() async throws -> [HostRecord] {
        let logger = self.logger
        return try await reader.use { db in
            var devices: [String: [String: Int64]] = [:]
            for try await (name, owner, epoch) in try await db.query(
                "SELECT name, owner, epoch FROM device WHERE owner IS NOT NULL", logger: logger
            ).decode((String, String, Int64).self) {
                devices[owner, default: [:]][name] = epoch
            }
            var hosts: [HostRecord] = []
            let rows = try await db.query(
                """
                SELECT id, lease_ms, extract(epoch FROM lease_expires)::float8, extract(epoch FROM renewed_at)::float8,
                    extract(epoch FROM started_at)::float8, lease_expires <= now(),
                    now() > lease_expires + make_interval(secs => lease_ms / 3000.0)
                FROM host ORDER BY id
                """, logger: logger)
            for try await (id, leaseMs, expires, renewed, started, expired, claimable) in rows.decode(
                (String, Int64, Double, Double, Double, Bool, Bool).self)
            {
                hosts.append(
                    HostRecord(
                        id: id, leaseMs: Int(leaseMs), leaseExpiresAt: Date(timeIntervalSince1970: expires),
                        renewedAt: Date(timeIntervalSince1970: renewed),
                        startedAt: Date(timeIntervalSince1970: started),
                        expired: expired, claimable: claimable, devices: devices[id] ?? [:]))
            }
            return hosts
        }
    }

    public func claim(device: String) async throws -> Int64 {
        guard let fence else { throw MapperError(.ENOTSUP, "the store is not shared: no host owns devices") }
        let host = fence.host.id
        let logger = self.logger
        let epoch = try await leaseLink.use { db -> Int64 in
            try await db.query("BEGIN", logger: logger)
            do {
                var found: (String?, Int64)?
                for try await row in try await db.query(
                    "SELECT owner, epoch FROM device WHERE name = \(device) FOR UPDATE", logger: logger
                ).decode((String?, Int64).self) {
                    found = row
                }
                guard let (owner, current) = found else {
                    throw MapperError(.ENOENT, "no device named '\(device)' in the store")
                }
                if let owner, owner != host {
                    var lease: (Bool, Double, Double)?
                    for try await row in try await db.query(
                        """
                        SELECT now() > lease_expires + make_interval(secs => lease_ms / 3000.0),
                            extract(epoch FROM lease_expires)::float8,
                            extract(epoch FROM lease_expires + make_interval(secs => lease_ms / 3000.0))::float8
                        FROM host WHERE id = \(owner) FOR UPDATE
                        """, logger: logger
                    ).decode((Bool, Double, Double).self) {
                        lease = row
                    }
                    if let (claimable, expires, after) = lease, !claimable {
                        let format = ISO8601DateFormatter()
                        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                        throw MapperError(
                            .EBUSY,
                            "device '\(device)' is served by host '\(owner)', whose lease runs until "
                                + "\(format.string(from: Date(timeIntervalSince1970: expires))); it may be claimed after "
                                + "\(format.string(from: Date(timeIntervalSince1970: after))) (the lease plus its grace)"
                        )
                    }
                } else if owner == host, fence.owned[device] == current {
                    try await db.query("COMMIT", logger: logger)
                    return current
                }
                var epoch = current + 1
                for try await value in try await db.query(
                    "UPDATE device SET owner = \(host), epoch = epoch + 1 WHERE name = \(device) RETURNING epoch",
                    logger: logger
                ).decode(Int64.self) {
                    epoch = value
                }
                try await db.query("COMMIT", logger: logger)
                return epoch
            } catch {
                _ = try? await db.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        fence.own(device, epoch: epoch)
        return epoch
    }

    public func setReplaying(_ names: Set<String>) { replaying.withLock { $0 = names } }

    /// Whether `change` is about an object a claim is rebuilding.
    func isReplaying(_ change: StateChange) -> Bool {
        let name: String?
        switch change {
        case .backendAdded(let backend, _, _): name = backend
        case .pathAdded(let path, _, _, _): name = path
        case .pathChanged(let info): name = info.name
        default: name = change.device
        }
        guard let name else { return false }
        return replaying.withLock { $0.contains(name) }
    }

    public func onDeviceLost(_ handler: @escaping @Sendable (String) -> Void) { fence?.onLost(handler) }
}
