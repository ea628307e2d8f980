import MapperCore
import MapperTestSupport
import Testing

@Suite("Multipath target")
struct MultipathBehaviourTests {
    static let twoGroups =
        "0 2048 multipath 1 queue_if_no_path 0 2 1 round-robin 0 2 1 p1 1 p2 1 round-robin 0 2 1 p3 1 p4 1"

    @Test("status of a 2-group, 4-path table before and after I/O and failover")
    func statusString() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.engine.device("mp", table: Self.twoGroups)
        let target = try fixture.multipath(device)
        #expect(target.status() == "1 0 0 2 1 E 0 2 0 p1 A 0 p2 A 0 E 0 2 0 p3 A 0 p4 A 0")
        #expect(device.liveTable?.text == Self.twoGroups + "\n")
        #expect(try await fixture.engine.write(device, sector: 0, sectors: 8, byte: 1) == nil)
        #expect(target.status() == "1 0 0 2 1 A 0 2 0 p1 A 0 p2 A 0 E 0 2 0 p3 A 0 p4 A 0")
        try await fixture.manager.setFault(path: "p1", .error)
        try await fixture.manager.setFault(path: "p2", .error)
        #expect(try await fixture.engine.write(device, sector: 8, sectors: 8, byte: 2) == nil)
        #expect(target.status() == "1 0 0 2 2 E 0 2 0 p1 F 1 p2 F 1 A 0 2 0 p3 A 0 p4 A 0")
        #expect(try fixture.landed(sector: 8, byte: 2))
        let status = target.structuredStatus
        #expect(status.groups.map(\.state) == ["enabled", "active"])
        #expect(status.groups[0].paths.map(\.failCount) == [1, 1])
        #expect(device.eventNr == 2)
    }

    @Test("path state is global: a failure seen by one device fails the path in every device")
    func globalPathState() async throws {
        let fixture = try await MultipathFixture()
        let first = try await fixture.engine.device("a", table: MultipathFixture.table(queue: true))
        let second = try await fixture.engine.device("b", table: MultipathFixture.table(queue: true))
        try await fixture.manager.setFault(path: "p1", .error)
        for sector in stride(from: 0, to: 32, by: 8) {
            #expect(try await fixture.engine.write(first, sector: UInt64(sector), sectors: 8, byte: 3) == nil)
        }
        #expect(try !fixture.manager.path(named: "p1").isActive)
        #expect(try fixture.multipath(second).status().contains("p1 F 1"))
        #expect(first.eventNr == 1 && second.eventNr == 1)
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(first.eventNr == 2 && second.eventNr == 2)
        #expect(fixture.engine.engine.events.events(after: 0).contains { $0.kind == .pathFailed && $0.device == "b" })
    }

    @Test("fail_if_no_path dispatches the queue and fails it with EIO")
    func failIfNoPath() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 0, byte: 4)
        #expect(try await device.message("fail_if_no_path") == "")
        #expect(await bio.wait() == .EIO)
        #expect(try fixture.multipath(device).table().hasPrefix("0 0 1 1 round-robin"))
    }

    @Test("switch, disable and enable groups; each bumps eventNr")
    func groups() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.engine.device("mp", table: Self.twoGroups)
        let target = try fixture.multipath(device)
        _ = try await device.message("switch_group 2")
        #expect(try await fixture.engine.write(device, sector: 0, sectors: 8, byte: 5) == nil)
        #expect(target.structuredStatus.groups.map(\.state) == ["enabled", "active"])
        _ = try await device.message("disable_group 2")
        #expect(try await fixture.engine.write(device, sector: 0, sectors: 8, byte: 5) == nil)
        #expect(target.structuredStatus.groups.map(\.state) == ["active", "disabled"])
        _ = try await device.message("enable_group 2")
        #expect(device.eventNr == 3)
    }

    @Test(
        "bad messages are EINVAL",
        arguments: [
            "bogus", "fail_path", "fail_path p9", "switch_group 0", "switch_group 3", "disable_group x",
            "queue_if_no_path extra", "reinstate_path p1 p2",
        ])
    func badMessages(message: String) async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.engine.device("mp", table: Self.twoGroups)
        let error = await #expect(throws: MapperError.self) { try await device.message(message) }
        #expect(error?.errno == .EINVAL)
    }

    @Test(
        "bad arguments are EINVAL and name the line",
        arguments: [
            ("0 2048 multipath", "missing number of features"),
            ("0 2048 multipath 1 bogus 0 1 1 round-robin 0 1 1 p1 1", "unrecognised multipath feature"),
            ("0 2048 multipath 0 0 1 0 round-robin 0 1 1 p1 1", "invalid initial priority group"),
            ("0 2048 multipath 0 0 1 2 round-robin 0 1 1 p1 1", "invalid initial priority group"),
            ("0 2048 multipath 0 0 1 1 fancy 0 1 1 p1 1", "unknown path selector"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 1 1 disk 1", "multipath maps onto paths only"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 1 1 p9 1", "no path named 'p9'"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 2 1 p1 1 p1 1", "appears twice"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 2 1 p1 1 other 1", "same backend"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 1 1 p1 0", "invalid repeat count"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 1 2 p1 1 1", "invalid number of per-path arguments"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 1 1 p1", "missing argument of path"),
            ("0 2048 multipath 0 0 1 1 round-robin 0 1 1 p1 1 extra", "too many arguments"),
            ("0 8192 multipath 0 0 1 1 round-robin 0 1 1 p1 1", "does not fit"),
        ])
    func badArguments(table: String, message: String) async throws {
        let fixture = try await MultipathFixture()
        try await fixture.engine.backend("other-disk", sectors: 4096)
        try await fixture.manager.createPath(name: "other", backend: "other-disk")
        try await fixture.manager.createDevice(name: "mp")
        let error = await #expect(throws: MapperError.self) { try await fixture.manager.load(device: "mp", text: table) }
        #expect(error?.errno == .EINVAL)
        #expect(error?.message.hasPrefix("line 1: multipath: ") == true)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("hardware handler arguments are accepted and kept; other selectors load and report")
    func selectorsAndHardwareHandler() async throws {
        let fixture = try await MultipathFixture()
        let table =
            "0 2048 multipath 0 1 alua 2 1 queue-length 0 2 1 p1 1 p2 1 service-time 0 2 2 p3 1 2 p4 1 1"
        let device = try await fixture.engine.device("mp", table: table)
        let target = try fixture.multipath(device)
        #expect(target.table() == "0 1 alua 2 1 queue-length 0 2 1 p1 1 p2 1 service-time 0 2 2 p3 1 2 p4 1 1")
        #expect(try await fixture.engine.write(device, sector: 0, sectors: 8, byte: 6) == nil)
        #expect(target.status() == "1 0 0 2 1 A 0 2 1 p1 A 0 0 p2 A 0 0 E 0 2 2 p3 A 0 0 2 p4 A 0 0 1")
        try await fixture.failAll()
        #expect(try await fixture.engine.write(device, sector: 8, sectors: 8, byte: 6) == nil)
        #expect(try fixture.landed(sector: 0, sectors: 16, byte: 6))
    }

    @Test("round-robin alternates paths per its repeat count")
    func roundRobinAlternates() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: false)
        try await fixture.manager.setFault(path: "p2", .error)
        // With repeat 1 the second write goes to p2, fails it, and is retried on p1.
        #expect(try await fixture.engine.write(device, sector: 0, sectors: 8, byte: 7) == nil)
        #expect(try await fixture.engine.write(device, sector: 8, sectors: 8, byte: 7) == nil)
        #expect(try fixture.manager.path(named: "p2").failCount == 1)
        #expect(try fixture.landed(sector: 0, sectors: 16, byte: 7))
    }

    @Test("paths used by a table cannot be removed; removing the device frees them")
    func pathUsage() async throws {
        let fixture = try await MultipathFixture()
        _ = try await fixture.device(queue: true)
        #expect(try fixture.manager.path(named: "p1").info.usedBy == ["mp"])
        await #expect(throws: MapperError.self) { try await fixture.manager.removePath(named: "p1") }
        try await fixture.manager.removeDevice(named: "mp")
        try await fixture.manager.removePath(named: "p1")
    }

    @Test("failover under load: 8 writers while paths flip between none, error and stall", .timeLimit(.minutes(1)))
    func failoverUnderLoad() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.engine.device(
            "mp", table: "0 4096 multipath 1 queue_if_no_path 0 1 1 round-robin 0 3 1 p1 1 p2 1 p3 1")
        let writers = 8
        let rounds = 40
        let results = try await withThrowingTaskGroup(of: [Errno?].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var errors: [Errno?] = []
                    for round in 0..<rounds {
                        let byte = UInt8(truncatingIfNeeded: writer * 31 + round + 1)
                        let sector = UInt64(writer * 64 + (round % 8) * 8)
                        errors.append(try await fixture.engine.write(device, sector: sector, sectors: 8, byte: byte))
                    }
                    return errors
                }
            }
            group.addTask {
                var generator = SystemRandomNumberGenerator()
                let modes: [FaultMode] = [.none, .error, .stall, .none, .delay(milliseconds: 1)]
                for _ in 0..<150 {
                    let path = "p\(Int.random(in: 1...3, using: &generator))"
                    try await fixture.manager.setFault(path: path, modes.randomElement(using: &generator) ?? .none)
                    for name in ["p1", "p2", "p3"] where Bool.random(using: &generator) {
                        try await fixture.manager.reinstatePath(named: name)
                    }
                    await Task.yield()
                }
                for name in ["p1", "p2", "p3"] {
                    try await fixture.manager.setFault(path: name, .none)
                    try await fixture.manager.reinstatePath(named: name)
                }
                return []
            }
            var all: [[Errno?]] = []
            for try await result in group { all.append(result) }
            return all.flatMap { $0 }
        }
        #expect(results.count == writers * rounds)
        #expect(results.allSatisfy { $0 == nil })
        // The last write of each slot is what the backend holds.
        for writer in 0..<writers {
            for slot in 0..<8 {
                let lastRound = (rounds - 1) - ((rounds - 1 - slot) % 8)
                let byte = UInt8(truncatingIfNeeded: writer * 31 + lastRound + 1)
                #expect(try fixture.landed(sector: writer * 64 + slot * 8, byte: byte), "writer \(writer) slot \(slot)")
            }
        }
        #expect(device.info.io == .init(inFlight: 0, queued: 0, pushback: 0, deferred: 0))
    }

    @Test("a path failed by an I/O error under load never waits for a commit; API path changes do")
    func pathFailureDoesNotWaitForCommits() async throws {
        let store = HeldStateStore()
        let fixture = try await MultipathFixture(store: store)
        let device = try await fixture.device(queue: false)
        try fixture.manager.path(named: "p1").setFault(.error)
        store.hold()
        // Round-robin sends half the writes to p1: its error fails the path (recorded, held
        // back by the store) and the write is retried on p2 at once.
        let results = try await withThrowingTaskGroup(of: Errno?.self) { group in
            for index in 0..<16 {
                group.addTask {
                    try await fixture.engine.write(device, sector: UInt64(index * 8), sectors: 8, byte: UInt8(index + 1))
                }
            }
            var results: [Errno?] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(results.count == 16 && results.allSatisfy { $0 == nil })
        #expect(try !fixture.manager.path(named: "p1").isActive)
        #expect(store.pending >= 1)
        #expect(
            store.changes.contains {
                if case .pathChanged(let info) = $0 { return info.name == "p1" && !info.active }
                return false
            })
        // A path change over the API returns only once it is durable.
        let before = store.pending
        async let reinstated = fixture.manager.reinstatePath(named: "p1")
        await store.waitForPending(before + 2)
        store.release()
        #expect(try await reinstated.isActive)
    }
}
