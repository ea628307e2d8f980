import MapperCore
import MapperTestSupport
import Testing

@Suite("Device lifecycle and the shared namespace")
struct LifecycleTests {
    @Test("create with a table leaves an active device with a live table")
    func createWithTable() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 16 zero")
        let info = device.info
        #expect(info.state == "active" && info.hasLiveTable && !info.hasInactiveTable)
        #expect(info.sizeSectors == 16 && info.targetCount == 1 && info.eventNr == 0)
    }

    @Test("a failed create leaves nothing behind")
    func failedCreateLeavesNothing() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 8)
        await #expect(throws: MapperError.self) {
            try await fixture.device("dm0", table: "0 8 linear disk 0\n8 8 linear disk 8")
        }
        #expect(fixture.manager.devices.isEmpty)
        #expect(try fixture.manager.backend(named: "disk").holders.openCount == 0)
        try await fixture.device("dm0", table: "0 8 linear disk 0")
    }

    @Test("names are unique across backends, paths and devices")
    func sharedNamespace() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 8)
        try await fixture.manager.createPath(name: "p1", backend: "disk")
        for name in ["disk", "p1"] {
            let error = await #expect(throws: MapperError.self) { try await fixture.manager.createDevice(name: name) }
            #expect(error?.errno == .EEXIST)
        }
        try await fixture.manager.createDevice(name: "dm0", uuid: "U-1")
        await #expect(throws: MapperError(.EEXIST, "name 'dm0' is already taken by a device")) {
            try await fixture.manager.createPath(name: "dm0", backend: "disk")
        }
        let uuidError = await #expect(throws: MapperError.self) {
            try await fixture.manager.createDevice(name: "dm1", uuid: "U-1")
        }
        #expect(uuidError?.errno == .EEXIST)
    }

    @Test("names are validated", arguments: ["", "-x", ".x", "a/b", "a b", String(repeating: "a", count: 129), "ü"])
    func invalidNames(name: String) async throws {
        let fixture = try EngineFixture()
        let error = await #expect(throws: MapperError.self) { try await fixture.manager.createDevice(name: name) }
        #expect(error?.errno == .EINVAL)
    }

    @Test("stacked devices are open; remove is EBUSY until the upper device is gone")
    func removeWhileOpen() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let lower = try await fixture.device("lower", table: "0 64 linear disk 0")
        let upper = try await fixture.device("upper", table: "0 32 linear lower 32")
        #expect(lower.info.openCount == 1)
        #expect(lower.holders.deviceNames == ["upper"])
        let error = await #expect(throws: MapperError.self) { try await fixture.manager.removeDevice(named: "lower") }
        #expect(error?.errno == .EBUSY)
        await #expect(throws: MapperError.self) { try await fixture.manager.removeBackend(named: "disk") }
        // Data flows through both layers to the file.
        #expect(try await fixture.write(upper, sector: 1, sectors: 1, byte: 0x5A) == nil)
        #expect(try fixture.fileBytes("disk", offset: 33 * 512, count: 512) == [UInt8](repeating: 0x5A, count: 512))
        try await fixture.manager.removeDevice(named: "upper")
        #expect(lower.info.openCount == 0)
        try await fixture.manager.removeDevice(named: "lower")
        try await fixture.manager.removeBackend(named: "disk")
        #expect(fixture.manager.node(named: "lower") == nil)
    }

    @Test("cycles and self-references are rejected")
    func cycles() async throws {
        let fixture = try EngineFixture()
        let a = try await fixture.device("a", table: "0 8 zero")
        _ = try await fixture.device("b", table: "0 8 linear a 0")
        let selfError = await #expect(throws: MapperError.self) {
            try await fixture.manager.load(device: "a", text: "0 8 linear a 0")
        }
        #expect(selfError?.message.contains("onto itself") == true)
        let cycleError = await #expect(throws: MapperError.self) {
            try await fixture.manager.load(device: "a", text: "0 8 linear b 0")
        }
        #expect(cycleError?.errno == .EINVAL)
        #expect(cycleError?.message.contains("cycle") == true)
        #expect(a.inactiveTable == nil)
    }

    @Test("a device removed by force with a bio in flight lives until the bio ends, then goes")
    func forcedRemovalKeepsTheDeviceUntilDrained() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let path = try await fixture.manager.createPath(name: "p1", backend: "disk")
        try await fixture.manager.setFault(path: "p1", .stall)
        weak var weakDevice: MappedDevice?
        let stalled = fixture.writeBio(sector: 1, sectors: 1, byte: 9)
        do {
            let device = try await fixture.device("dm0", table: "0 64 linear p1 0")
            weakDevice = device
            try device.submit(stalled)
            #expect(path.stalledCount == 1)
            try await fixture.manager.removeDevice(named: "dm0", force: true)
        }
        // Nobody but the device itself holds it now: its clone, stalled at the path, refers
        // to it without a reference count.
        #expect(weakDevice != nil, "a removed device with a bio in flight keeps itself")
        #expect(stalled.state == .inflight)
        try await fixture.manager.setFault(path: "p1", .none)
        #expect(path.stalledCount == 0)
        #expect(await stalled.wait() == nil)
        #expect(weakDevice == nil, "the last bio out let the device go")
        #expect(try fixture.fileBytes("disk", offset: 512, count: 512) == [UInt8](repeating: 9, count: 512))
    }

    @Test("remove refuses queued or deferred bios unless forced; force fails them with EIO")
    func removeWithQueuedBios() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 test")
        let target = try #require(fixture.controlled.instance(at: 0))
        let held = fixture.readBio(sector: 0, sectors: 1)
        try device.submit(held)
        let busy = await #expect(throws: MapperError.self) { try await fixture.manager.removeDevice(named: "dm0") }
        #expect(busy?.errno == .EBUSY)
        try await fixture.manager.removeDevice(named: "dm0", force: true)
        #expect(await held.wait() == .EIO)
        #expect(target.hooks.contains("destroy"))

        let suspended = try await fixture.device("dm1", table: "0 8 zero")
        try await suspended.suspend()
        let deferred = fixture.readBio(sector: 0, sectors: 1)
        try suspended.submit(deferred)
        await #expect(throws: MapperError.self) { try await fixture.manager.removeDevice(named: "dm1") }
        try await fixture.manager.removeDevice(named: "dm1", force: true)
        #expect(await deferred.wait() == .EIO)
        #expect(fixture.manager.devices.isEmpty)
    }

    @Test("rename bumps eventNr, wakes waiters and keeps the namespace consistent")
    func renameWakesWaiters() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 zero")
        try await fixture.device("other", table: "0 8 zero")
        let waiter = Task { await device.waitEvent(after: 0, timeout: .seconds(60)) }
        await #expect(throws: MapperError.self) { try await fixture.manager.renameDevice(named: "dm0", to: "other") }
        try await fixture.manager.renameDevice(named: "dm0", to: "dm1")
        #expect(await waiter.value == 1)
        #expect(device.name == "dm1" && device.eventNr == 1)
        #expect(try fixture.manager.device(named: "dm1") === device)
        #expect(throws: MapperError.self) { try fixture.manager.device(named: "dm0") }
        #expect(await device.waitEvent(after: 0, timeout: .seconds(60)) == 1)
    }

    @Test("an event wait times out with the unchanged number")
    func eventWaitTimesOut() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 zero")
        #expect(await device.waitEvent(after: 0, timeout: .milliseconds(10)) == 0)
    }

    @Test("read-only devices refuse writes with EROFS and serve reads")
    func readOnly() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("ro", table: "0 8 zero", readOnly: true)
        #expect(throws: MapperError(.EROFS, "device 'ro' is read-only")) {
            try device.submit(fixture.writeBio(sector: 0, sectors: 1, byte: 1))
        }
        #expect(try await fixture.read(device, sector: 0, sectors: 1) == [UInt8](repeating: 0, count: 512))
    }

    @Test("messages go to the target holding the sector")
    func messages() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 zero\n8 8 test")
        #expect(try await device.message(sector: 8, "ping") == "pong")
        let noMessages = await #expect(throws: MapperError.self) { try await device.message(sector: 0, "ping") }
        #expect(noMessages?.errno == .EINVAL)
        await #expect(throws: MapperError.self) { try await device.message(sector: 16, "ping") }
        await #expect(throws: MapperError.self) { try await device.message(sector: 8, "bogus") }
        await #expect(throws: MapperError.self) { try await device.message(sector: 8, "  ") }
        try await device.suspend()
        #expect(try await device.message(sector: 8, "ping") == "pong")
    }

    @Test("clear drops the inactive table and closes its devices")
    func clearInactive() async throws {
        let fixture = try EngineFixture()
        let disk = try await fixture.backend("disk", sectors: 8)
        let device = try await fixture.manager.createDevice(name: "dm0")
        try await fixture.manager.load(device: "dm0", text: "0 8 linear disk 0")
        #expect(disk.holders.openCount == 1)
        try await device.clear()
        #expect(device.inactiveTable == nil && disk.holders.openCount == 0)
    }
}
