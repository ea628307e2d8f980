import Foundation
import Logging
import Synchronization

/// The engine's front door: the one namespace of block-device names shared by backends,
/// paths and mapped devices, and the operations on them (SEMANTICS §1, §3).
///
/// Names match `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`. A name means one thing at a time (EEXIST
/// otherwise). Objects in use cannot be removed (EBUSY).
public final class DeviceManager: Sendable {
    public let engine: EngineServices
    let nodes = Mutex<[String: any BlockNode]>([:])
    /// Asked before a device is renamed: why it may not be (its name is in use by a job), or
    /// `nil` (``addRenameCheck(_:)``).
    private let renameChecks = Mutex<[@Sendable (String) -> String?]>([])
    private let pathRecorder: PathStateRecorder
    /// Wakes the ``PathChecker`` when paths or their checkers change.
    public let checkerWake = Wakeup()
    /// Whether the host is fenced (``setFenced(_:)``): a device created meanwhile starts fenced.
    private let hostFenced = Mutex(false)

    public init(engine: EngineServices = EngineServices()) {
        self.engine = engine
        self.pathRecorder = PathStateRecorder(engine: engine)
    }

    /// Checks a name against the namespace's pattern (EINVAL).
    public static func validateName(_ name: String, what: String = "name") throws {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 128 else {
            throw MapperError(.EINVAL, "\(what) must be 1 to 128 characters")
        }
        func isAlnum(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        }
        guard isAlnum(first), bytes.allSatisfy({ isAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) else {
            throw MapperError(
                .EINVAL, "\(what) '\(name)' must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
        }
    }

    /// Looks any node up by name.
    public func node(named name: String) -> (any BlockNode)? {
        nodes.withLock { $0[name] }
    }

    func resolver() -> (String) -> (any BlockNode)? {
        { [self] name in self.node(named: name) }
    }

    private func insert(_ node: any BlockNode) throws {
        try nodes.withLock { nodes in
            if let existing = nodes[node.name] {
                throw MapperError(.EEXIST, "name '\(node.name)' is already taken by a \(existing.kind.rawValue)")
            }
            nodes[node.name] = node
        }
    }

    private func lookUp<T>(_ name: String, as type: T.Type, _ what: String) throws -> T {
        guard let node = node(named: name) as? T else {
            throw MapperError(.ENOENT, "no \(what) named '\(name)'")
        }
        return node
    }

    // MARK: Backends

    /// Adds a backend over the file at `url` (see ``FileBackend/init(name:file:url:createSizeBytes:)``).
    @discardableResult
    public func createBackend(name: String, file: String, url: URL, sizeBytes: UInt64? = nil) async throws
        -> FileBackend
    {
        try Self.validateName(name)
        if node(named: name) != nil { throw MapperError(.EEXIST, "name '\(name)' is already taken") }
        let backend = try FileBackend(name: name, file: file, url: url, createSizeBytes: sizeBytes)
        try insert(backend)
        engine.events.append(kind: .backendCreated, detail: name)
        try await engine.store.record(
            .backendAdded(name: name, source: backend.source, sizeSectors: backend.sizeSectors))
        return backend
    }

    /// Grows the file backend `name` to `sizeBytes` (``FileBackend/grow(toBytes:)``), so that
    /// tables over it can be reloaded longer (a thin pool's data device). ENOTSUP for a remote
    /// backend (its export decides its size).
    @discardableResult
    public func resizeBackend(named name: String, sizeBytes: UInt64) async throws -> any Backend {
        let found = try backend(named: name)
        guard let file = found as? FileBackend else {
            throw MapperError(.ENOTSUP, "backend '\(name)' is remote: its export decides its size")
        }
        let before = file.sizeSectors
        try file.grow(toBytes: sizeBytes)
        guard file.sizeSectors != before else { return file }
        engine.events.append(kind: .backendResized, detail: "\(name) \(before << 9) -> \(sizeBytes) bytes")
        // After the file grew: a crash in between leaves a larger file, which start-up takes as
        // it is, never a record larger than the file.
        try await engine.store.record(.backendAdded(name: name, source: file.source, sizeSectors: file.sizeSectors))
        return file
    }

    /// Adds a backend on the remote export at `uri`, connecting to learn its size (which must
    /// equal `sizeBytes` when given: EINVAL). ENOTSUP without a connector; the connection's
    /// errors (ECONNREFUSED, ETIMEDOUT, ENOENT for an unknown export, ...) as they come.
    @discardableResult
    public func createBackend(name: String, uri: String, sizeBytes: UInt64? = nil) async throws -> RemoteBackend {
        try Self.validateName(name)
        if node(named: name) != nil { throw MapperError(.EEXIST, "name '\(name)' is already taken") }
        guard let connector = engine.connector else {
            throw MapperError(.ENOTSUP, "this engine has no remote transport")
        }
        let transport = try connector.transport(uri: uri, expectedSizeBytes: sizeBytes)
        try await transport.connect()
        guard let size = transport.exportSizeBytes, size > 0, size % 512 == 0 else {
            transport.close()
            throw MapperError(.EINVAL, "export at \(uri) has a size that is not a positive multiple of 512")
        }
        let backend = RemoteBackend(
            name: name, uri: uri, sizeSectors: size >> 9, transport: transport, connector: connector)
        do {
            try insert(backend)
        } catch {
            transport.close()
            throw error
        }
        engine.events.append(kind: .backendCreated, detail: name)
        try await engine.store.record(
            .backendAdded(name: name, source: backend.source, sizeSectors: backend.sizeSectors))
        return backend
    }

    /// Rebuilds a remote backend at start-up from its persisted size, without waiting for the
    /// export: when it cannot be reached yet, its own I/O fails with EIO until it connects
    /// (the checker of each path reconnects the path's own connection).
    @discardableResult
    public func restoreBackend(name: String, uri: String, sizeSectors: UInt64) async throws -> RemoteBackend {
        guard let connector = engine.connector else {
            throw MapperError(.ENOTSUP, "this engine has no remote transport")
        }
        let transport = try connector.transport(uri: uri, expectedSizeBytes: sizeSectors << 9)
        let backend = RemoteBackend(
            name: name, uri: uri, sizeSectors: sizeSectors, transport: transport, connector: connector)
        try insert(backend)
        do {
            try await transport.connect()
        } catch {
            engine.logger.warning(
                "remote backend not reachable at start-up", metadata: ["backend": "\(name)", "error": "\(error)"])
        }
        return backend
    }

    public func backend(named name: String) throws -> any Backend {
        try lookUp(name, as: (any Backend).self, "backend")
    }

    /// All backends, sorted by name.
    public var backends: [any Backend] {
        nodes.withLock { $0.values.compactMap { $0 as? any Backend } }.sorted { $0.name < $1.name }
    }

    /// A backend's snapshot; `usedBy` lists its paths and the devices mapping onto it.
    public func info(_ backend: any Backend) -> BackendInfo {
        let pathNames = paths.filter { $0.backend === backend }.map(\.name)
        return BackendInfo(
            name: backend.name, source: backend.source, sizeSectors: backend.sizeSectors,
            usedBy: (pathNames + backend.holders.deviceNames).sorted(),
            connected: (backend as? RemoteBackend)?.transport.transportInfo.connected)
    }

    /// Removes a backend from the namespace (the file is kept; a remote backend's connection
    /// is closed). EBUSY while a path or a table uses it.
    public func removeBackend(named name: String) async throws {
        let removed = try nodes.withLock { nodes -> any Backend in
            guard let backend = nodes[name] as? any Backend else {
                throw MapperError(.ENOENT, "no backend named '\(name)'")
            }
            let users = nodes.values.compactMap { ($0 as? Path)?.backend === backend ? $0.name : nil }
            if !users.isEmpty || backend.holders.openCount > 0 {
                throw MapperError(
                    .EBUSY,
                    "backend '\(name)' is used by \((users + backend.holders.deviceNames).sorted().joined(separator: ", "))"
                )
            }
            nodes[name] = nil
            return backend
        }
        (removed as? RemoteBackend)?.transport.close()
        engine.events.append(kind: .backendRemoved, detail: name)
        try await engine.store.record(.backendRemoved(name: name))
    }

    // MARK: Paths

    /// Adds a path to an existing backend; it starts active with fault mode none. A path to a
    /// remote backend opens a connection of its own, to `uri` when given (another route to the
    /// same export, whose size must match) and is checked by default (`checker` or the
    /// engine's default); a path to a file backend takes no `uri` and is checked only when
    /// `checker` is given. With `connectNow` (the API), a connection that cannot be made
    /// is an error; without it (start-up), the path comes up failed and its checker
    /// reconnects it. With `keepChecker` (start-up), `checker` is taken as it is, `nil`
    /// meaning not checked.
    @discardableResult
    public func createPath(
        name: String, backend backendName: String, uri: String? = nil, checker: CheckerConfig? = nil,
        connectNow: Bool = true, keepChecker: Bool = false
    ) async throws -> Path {
        try Self.validateName(name)
        let backend = try backend(named: backendName)
        if let existing = node(named: name) {
            throw MapperError(.EEXIST, "name '\(name)' is already taken by a \(existing.kind.rawValue)")
        }
        let transport = try backend.makePathTransport(uri: uri)
        let isRemote = backend is RemoteBackend
        let path = Path(
            name: name, backend: backend, transport: transport,
            checker: keepChecker ? checker : checker ?? (isRemote ? engine.defaultChecker : nil))
        if isRemote {
            do {
                try await transport.connect()
            } catch {
                if connectNow {
                    transport.close()
                    throw error
                }
                engine.logger.warning(
                    "path not connected at start-up", metadata: ["path": "\(name)", "error": "\(error)"])
            }
        }
        do {
            try insert(path)
        } catch {
            transport.close()
            throw error
        }
        path.addObserver(pathRecorder)
        engine.events.append(kind: .pathCreated, path: name)
        try await engine.store.record(.pathAdded(name: name, backend: backendName, uri: uri, checker: path.checker))
        checkerWake.wake()
        return path
    }

    /// Closes every remote connection (paths' and remote backends'): the server is stopping.
    /// I/O still in flight on them ends with EIO.
    public func closeTransports() {
        for path in paths { path.transport.close() }
        for case let backend as RemoteBackend in backends { backend.transport.close() }
    }

    /// Sets or clears a path's checker.
    @discardableResult
    public func setChecker(path name: String, _ config: CheckerConfig?) async throws -> Path {
        let path = try path(named: name)
        path.setChecker(config)
        engine.events.append(
            kind: .pathChecker, path: name, detail: config.map { "\($0.intervalMs)/\($0.timeoutMs) ms" } ?? "off")
        try await engine.store.record(.pathChanged(path.info))
        checkerWake.wake()
        return path
    }

    public func path(named name: String) throws -> Path {
        try lookUp(name, as: Path.self, "path")
    }

    /// All paths, sorted by name.
    public var paths: [Path] { all(Path.self) }

    /// Removes a path. EBUSY while a table (live or inactive) uses it.
    public func removePath(named name: String) async throws {
        try nodes.withLock { nodes in
            guard let path = nodes[name] as? Path else { throw MapperError(.ENOENT, "no path named '\(name)'") }
            if path.holders.openCount > 0 {
                throw MapperError(
                    .EBUSY, "path '\(name)' is used by \(path.holders.deviceNames.joined(separator: ", "))")
            }
            nodes[name] = nil
            path.removeObserver(pathRecorder)
            path.transport.close()
        }
        engine.events.append(kind: .pathRemoved, path: name)
        try await engine.store.record(.pathRemoved(name: name))
    }

    /// Fails a path's dm state (every multipath target using it is told).
    @discardableResult
    public func failPath(named name: String) async throws -> Path {
        let path = try path(named: name)
        path.fail()
        await engine.store.committed()
        return path
    }

    /// Reinstates a path's dm state.
    @discardableResult
    public func reinstatePath(named name: String) async throws -> Path {
        let path = try path(named: name)
        path.reinstate()
        await engine.store.committed()
        return path
    }

    /// Sets a path's transport fault mode (its dm state is unchanged).
    @discardableResult
    public func setFault(path name: String, _ mode: FaultMode) async throws -> Path {
        let path = try path(named: name)
        path.setFault(mode)
        engine.events.append(kind: .pathFault, path: name, detail: mode.name)
        try await engine.store.record(.pathChanged(path.info))
        return path
    }

    // MARK: Devices

    /// Creates a device. With a table: create, load, resume; on any failure nothing is left.
    @discardableResult
    public func createDevice(
        name: String, uuid: String? = nil, readOnly: Bool = false, table: [TableLine]? = nil
    ) async throws -> MappedDevice {
        try Self.validateName(name)
        if let uuid {
            guard !uuid.isEmpty, uuid.utf8.count <= 128, !uuid.contains(where: \.isWhitespace) else {
                throw MapperError(.EINVAL, "uuid must be 1 to 128 characters without white space")
            }
        }
        let device = MappedDevice(name: name, uuid: uuid, readOnly: readOnly, engine: engine)
        try nodes.withLock { nodes in
            if let existing = nodes[name] {
                throw MapperError(.EEXIST, "name '\(name)' is already taken by a \(existing.kind.rawValue)")
            }
            if let uuid, nodes.values.contains(where: { ($0 as? MappedDevice)?.uuid == uuid }) {
                throw MapperError(.EEXIST, "uuid '\(uuid)' is already taken")
            }
            nodes[name] = device
        }
        // After the name is taken: a fence that comes later finds the device by name.
        hostFenced.withLock { fenced in
            if fenced { device.fence() }
        }
        do {
            try await engine.store.record(.deviceCreated(name: name, uuid: uuid, readOnly: readOnly))
            if let table {
                try await device.load(table, resolver: resolver())
                try await device.resume()
            }
        } catch {
            try? await device.tearDown(force: true)
            nodes.withLock { _ = $0.removeValue(forKey: name) }
            try? await engine.store.record(.deviceRemoved(name: name))
            throw error
        }
        engine.events.append(kind: .deviceCreated, device: name)
        return device
    }

    public func device(named name: String) throws -> MappedDevice {
        try lookUp(name, as: MappedDevice.self, "device")
    }

    /// All devices, sorted by name.
    public var devices: [MappedDevice] { all(MappedDevice.self) }

    /// Loads `lines` into the device's inactive slot (SEMANTICS §2 validation).
    public func load(device name: String, lines: [TableLine]) async throws {
        try await device(named: name).load(lines, resolver: resolver())
    }

    /// Loads dm table text into the device's inactive slot.
    public func load(device name: String, text: String) async throws {
        try await load(device: name, lines: TableParser.parse(text))
    }

    /// Drops the device's inactive table.
    public func clear(device name: String) async throws {
        try await device(named: name).clear()
    }

    /// Removes a device (see ``MappedDevice`` removal rules); then its name is free.
    public func removeDevice(named name: String, force: Bool = false) async throws {
        let device = try device(named: name)
        try await device.tearDown(force: force)
        nodes.withLock { nodes in
            if nodes[name] === device { nodes[name] = nil }
        }
        engine.events.append(kind: .deviceRemoved, device: name)
        try await engine.store.record(.deviceRemoved(name: name))
    }

    /// Fences every device (``MappedDevice/fence()``), or lifts the fence of every device:
    /// the host's lease is about to run out, or was renewed. A device created while the host
    /// is fenced starts fenced (a new device must not answer I/O the host's others hold).
    /// Calls come one at a time (the lease keeper's loop).
    ///
    /// Ordering with ``createDevice(name:uuid:readOnly:table:)``: the flag changes under its
    /// lock and the devices are listed after; a creation takes its name first and reads the
    /// flag under the same lock after. So a new device is either listed here or sees the new
    /// flag (and a device fenced at creation is listed by the unfence that follows).
    public func setFenced(_ fenced: Bool) {
        hostFenced.withLock { $0 = fenced }
        for device in devices {
            if fenced { device.fence() } else { device.unfence() }
        }
    }

    /// Whether the host is fenced.
    public var isFenced: Bool { hostFenced.withLock { $0 } }

    /// Drops a device this host no longer owns (another host claimed it). At once, in the
    /// caller's step: the device is fenced (nothing more reaches its targets), its name is
    /// dropped (so no later ``setFenced(_:)`` lifts that fence) and outside opens are revoked
    /// (NBD clients are disconnected, so no reply reaches them). Then it is torn down as a
    /// forced removal in the background. The store refuses to write anything for a device
    /// it has marked as lost, so the new owner's rows are left as they are.
    public func forgetDevice(named name: String) {
        guard let device = try? device(named: name) else { return }
        device.fence()
        nodes.withLock { nodes in
            if nodes[name] === device { nodes[name] = nil }
        }
        device.holders.revokeExternal()
        engine.events.append(kind: .deviceRemoved, device: name, detail: "claimed by another host")
        Task { try? await device.tearDown(force: true) }
    }

    /// Adds a check asked before every rename: it returns why the device named so may not be
    /// renamed (the rename then fails with EBUSY), or `nil`.
    public func addRenameCheck(_ check: @escaping @Sendable (String) -> String?) {
        renameChecks.withLock { $0.append(check) }
    }

    /// Renames a device. EEXIST when the new name is taken; EBUSY when a rename check refuses
    /// (a move job uses the name). Bumps the device's `eventNr`.
    @discardableResult
    public func renameDevice(named name: String, to newName: String) async throws -> MappedDevice {
        try Self.validateName(newName, what: "new name")
        for check in renameChecks.withLock({ $0 }) {
            if let reason = check(name) { throw MapperError(.EBUSY, reason) }
        }
        let device = try nodes.withLock { nodes -> MappedDevice in
            guard let device = nodes[name] as? MappedDevice else {
                throw MapperError(.ENOENT, "no device named '\(name)'")
            }
            if name == newName { return device }
            if let existing = nodes[newName] {
                throw MapperError(.EEXIST, "name '\(newName)' is already taken by a \(existing.kind.rawValue)")
            }
            nodes[name] = nil
            nodes[newName] = device
            return device
        }
        guard name != newName else { return device }
        try await engine.store.record(.deviceRenamed(from: name, to: newName))
        device.setName(newName)
        return device
    }

    /// A new bio with an engine-unique id (and `endIO` as its end-I/O receiver, if given).
    public func makeBio(
        op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, idempotencyKey: String? = nil,
        endIO: (any BlockIOCompletion)? = nil
    ) -> Bio {
        Bio(
            id: engine.nextBioID(), op: op, sector: sector, sectors: sectors, buffer: buffer,
            idempotencyKey: idempotencyKey, endIO: endIO)
    }

    private func all<T: BlockNode>(_ type: T.Type) -> [T] {
        nodes.withLock { $0.values.compactMap { $0 as? T } }.sorted { $0.name < $1.name }
    }
}
