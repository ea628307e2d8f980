import Foundation
import MapperCore
import MapperTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Data through targets and paths")
struct DataPathTests {
    @Test("a write split across three linear targets lands byte for byte")
    func splitWriteLands() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 300)
        let device = try await fixture.device(
            "dm0", table: "0 10 linear disk 200\n10 10 linear disk 0\n20 10 linear disk 100")
        let payload = (0..<(20 * 512)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let bio = fixture.manager.makeBio(op: .write, sector: 5, sectors: 20, buffer: IOBuffer(copying: payload))
        #expect(try await device.perform(bio) == nil)
        #expect(try fixture.fileBytes("disk", offset: 205 * 512, count: 5 * 512) == Array(payload[0..<2560]))
        #expect(try fixture.fileBytes("disk", offset: 0, count: 10 * 512) == Array(payload[2560..<7680]))
        #expect(try fixture.fileBytes("disk", offset: 100 * 512, count: 5 * 512) == Array(payload[7680...]))
        #expect(try await fixture.read(device, sector: 5, sectors: 20) == payload)
    }

    @Test("striped maps chunks round-robin over the stripes and never crosses a chunk")
    func stripedLayout() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("a", sectors: 64)
        try await fixture.backend("b", sectors: 64)
        let device = try await fixture.device("st", table: "0 32 striped 2 4 a 0 b 16")
        let payload = (0..<(32 * 512)).map { UInt8(truncatingIfNeeded: $0 >> 9) }  // byte = sector number
        let bio = fixture.manager.makeBio(op: .write, sector: 0, sectors: 32, buffer: IOBuffer(copying: payload))
        #expect(try await device.perform(bio) == nil)
        // Chunk k (4 sectors) goes to stripe k % 2 at chunk k / 2.
        for chunk in 0..<8 {
            let (file, base) = chunk % 2 == 0 ? ("a", 0) : ("b", 16)
            let sector = base + (chunk / 2) * 4
            let bytes = try fixture.fileBytes(file, offset: sector * 512, count: 4 * 512)
            #expect(bytes == Array(payload[(chunk * 2048)..<((chunk + 1) * 2048)]), "chunk \(chunk)")
        }
        #expect(try await fixture.read(device, sector: 3, sectors: 10) == Array(payload[(3 * 512)..<(13 * 512)]))
        #expect(device.liveTable?.targets.first?.target.status() == "2 a b AA")
    }

    @Test("zero reads zeros and drops writes; error fails everything with EIO")
    func zeroAndError() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 zero\n8 8 error")
        #expect(try await fixture.write(device, sector: 0, sectors: 8, byte: 9) == nil)
        #expect(try await fixture.read(device, sector: 0, sectors: 8) == [UInt8](repeating: 0, count: 4096))
        #expect(try await fixture.write(device, sector: 8, sectors: 1, byte: 9) == .EIO)
        #expect(try await fixture.write(device, sector: 7, sectors: 2, byte: 9) == .EIO)
    }

    @Test("I/O beyond the end is EINVAL; a device without a table has size 0")
    func outOfRange() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 zero")
        let error = #expect(throws: MapperError.self) { try device.submit(fixture.readBio(sector: 7, sectors: 2)) }
        #expect(error?.errno == .EINVAL)
        #expect(throws: MapperError.self) { try device.submit(fixture.readBio(sector: UInt64.max, sectors: 2)) }
        #expect(throws: MapperError.self) { try device.submit(fixture.readBio(sector: 0, sectors: 0)) }
        let empty = try await fixture.manager.createDevice(name: "empty")
        #expect(throws: MapperError.self) { try empty.submit(fixture.readBio(sector: 0, sectors: 1)) }
    }

    @Test("reads through a file backend leave the file's access time alone")
    func readsKeepAccessTime() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("lin", table: "0 64 linear disk 0")
        #expect(try await fixture.write(device, sector: 0, sectors: 8, byte: 0x11) == nil)
        // An access time older than the modification time: under `relatime` (or `strictatime`)
        // any read that checks would move it.
        let path = fixture.directory.appendingPathComponent("disk.img").path
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 2_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        #expect(try await fixture.read(device, sector: 0, sectors: 8) == [UInt8](repeating: 0x11, count: 4096))
        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_atim.tv_sec == 1_000_000)
    }

    @Test("flush reaches every target and fsyncs the backend")
    func flush() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device(
            "dm0", table: "0 16 linear disk 0\n16 32 striped 2 8 disk 16 disk 32\n48 8 zero")
        let bio = fixture.manager.makeBio(op: .flush, sector: 0, sectors: 0, buffer: nil)
        #expect(try await device.perform(bio) == nil)
    }

    @Test("path fault modes: error fails, stall parks until the mode changes, delay executes")
    func pathFaultModes() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let path = try await fixture.manager.createPath(name: "p1", backend: "disk")
        let device = try await fixture.device("dm0", table: "0 64 linear p1 0")
        #expect(path.info.usedBy == ["dm0"])

        try await fixture.manager.setFault(path: "p1", .error)
        #expect(try await fixture.write(device, sector: 0, sectors: 1, byte: 1) == .EIO)
        #expect(path.isActive, "the fault mode does not change the dm state")

        try await fixture.manager.setFault(path: "p1", .stall)
        let stalled = fixture.writeBio(sector: 1, sectors: 1, byte: 2)
        try device.submit(stalled)
        #expect(path.stalledCount == 1 && stalled.state == .inflight)
        let suspend = Task { try await device.suspend(timeout: .milliseconds(5)) }
        let error = await #expect(throws: MapperError.self) { try await suspend.value }
        #expect(error?.errno == .EINTR)
        try await fixture.manager.setFault(path: "p1", .delay(milliseconds: 1))
        #expect(await stalled.wait() == nil)
        #expect(try fixture.fileBytes("disk", offset: 512, count: 512) == [UInt8](repeating: 2, count: 512))

        try await fixture.manager.setFault(path: "p1", .stall)
        let failing = fixture.writeBio(sector: 2, sectors: 1, byte: 3)
        try device.submit(failing)
        try await fixture.manager.setFault(path: "p1", .error)
        #expect(await failing.wait() == .EIO)

        try await fixture.manager.setFault(path: "p1", .none)
        #expect(try await fixture.write(device, sector: 3, sectors: 1, byte: 4) == nil)
        await #expect(throws: MapperError.self) { try await fixture.manager.removePath(named: "p1") }
    }

    @Test(
        "fault modes parse from their API form",
        arguments: [("none", nil), ("error", nil), ("stall", nil), ("delay", 5)])
    func faultModeNames(name: String, delay: Int?) throws {
        #expect(try FaultMode(name: name, delayMs: delay).name == name)
    }

    @Test("bad fault modes are EINVAL", arguments: [("bogus", nil), ("delay", nil), ("delay", -1)] as [(String, Int?)])
    func badFaultModes(name: String, delay: Int?) {
        #expect(throws: MapperError.self) { try FaultMode(name: name, delayMs: delay) }
    }

    @Test("delay and flakey targets pass data through")
    func delayAndFlakey() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("dm0", table: "0 8 delay disk 0 1\n8 8 flakey disk 8 3600 1")
        #expect(try await fixture.write(device, sector: 6, sectors: 4, byte: 7) == nil)
        #expect(try fixture.fileBytes("disk", offset: 6 * 512, count: 2048) == [UInt8](repeating: 7, count: 2048))
    }

    @Test("backends are sized in sectors and refuse bad sizes")
    func backendSizes() async throws {
        let fixture = try EngineFixture()
        let disk = try await fixture.backend("disk", sectors: 10)
        #expect(disk.sizeSectors == 10)
        await #expect(throws: MapperError.self) {
            try await fixture.manager.createBackend(
                name: "odd", file: "odd.img", url: fixture.directory.appendingPathComponent("odd.img"), sizeBytes: 1000)
        }
        let missing = await #expect(throws: MapperError.self) {
            try await fixture.manager.createBackend(
                name: "missing", file: "missing.img", url: fixture.directory.appendingPathComponent("missing.img"))
        }
        #expect(missing?.errno == .ENOENT)
        // Reopening an existing file reads its size.
        let again = try await fixture.manager.createBackend(
            name: "again", file: "disk.img", url: fixture.directory.appendingPathComponent("disk.img"))
        #expect(again.sizeSectors == 10)
        #expect(fixture.manager.info(disk).usedBy.isEmpty)
    }
}
