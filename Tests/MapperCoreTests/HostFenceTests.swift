import Foundation
import MapperCore
import MapperTestSupport
import Testing

/// The host's fence over every device (``DeviceManager/setFenced(_:)``), as the lease keeper
/// sets it when a renewal is late: devices created while it stands are fenced too.
@Suite("Host fence")
struct HostFenceTests {
    @Test("a device created while the host is fenced holds its I/O until the fence lifts")
    func createdWhileFenced() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let before = try await fixture.device("old", table: "0 32 linear disk 0")
        fixture.manager.setFenced(true)
        #expect(fixture.manager.isFenced)
        let created = try await fixture.device("new", table: "0 32 linear disk 32")
        var held: [Bio] = []
        for device in [before, created] {
            let bio = fixture.writeBio(sector: 0, sectors: 8, byte: 0x5A)
            try device.submit(bio)
            held.append(bio)
        }
        #expect(held.allSatisfy { $0.state == .deferred })
        #expect(created.deferredBios.count == 1 && before.deferredBios.count == 1)
        #expect(try fixture.fileBytes("disk", offset: 32 * 512, count: 4096) == [UInt8](repeating: 0, count: 4096))

        fixture.manager.setFenced(false)
        #expect(!fixture.manager.isFenced)
        for bio in held { #expect(await bio.wait(deadline: .now + .seconds(20)) == .some(nil)) }
        #expect(try fixture.fileBytes("disk", offset: 32 * 512, count: 4096) == [UInt8](repeating: 0x5A, count: 4096))
        // Created after the fence lifted: not fenced.
        let later = try await fixture.device("later", table: "0 16 linear disk 48")
        #expect(try await fixture.write(later, sector: 0, sectors: 8, byte: 1) == nil)
    }
}
