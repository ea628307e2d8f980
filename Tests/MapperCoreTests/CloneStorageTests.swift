import MapperTestSupport
import Testing

@testable import MapperCore

/// A bio is the storage of its first clone (dm embeds the first `dm_target_io` in `dm_io`).
@Suite("Clone storage")
struct CloneStorageTests {
    final class Marker {}

    @Test("a bio's first clone lives in the bio; pieces in other targets get storage that holds the bio")
    func firstCloneIsTheBio() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 test\n8 8 test\n16 8 test")
        let targets = try [0, 8, 16].map { try #require(fixture.controlled.instance(at: UInt64($0))) }
        let bio = fixture.readBio(sector: 4, sectors: 16)
        try device.submit(bio)
        let clones = targets.map { $0.held[0] }
        #expect(clones[0].storage === bio)
        #expect(clones[1].storage !== bio && clones[2].storage !== bio)
        #expect(clones[1].storage.cloneOwner === bio && clones[2].storage.cloneOwner === bio)
        #expect(clones[0].storage.cloneOwner == nil, "the bio does not hold itself")
        #expect(clones.allSatisfy { $0.bio === bio })
        #expect(
            zip(clones, targets).allSatisfy { $0.target === $1 }, "each clone calls its own target (its table slot)")
        #expect(!clones[0].isSame(as: clones[1]) && clones[0].isSame(as: targets[0].held[0]))
        for target in targets { target.endAll(.ok) }
        #expect(await bio.wait() == nil)

        let single = fixture.readBio(sector: 9, sectors: 2)
        try device.submit(single)
        let clone = targets[1].held[0]
        #expect(clone.storage === single && clone.sector == 9 && clone.targetOffset == 1)
        targets[1].endAll(.ok)
        #expect(await single.wait() == nil)
    }

    @Test("a pushed-back bio is split anew through the new table, in its own storage, with fresh fields")
    func pushedBackBioIsSplitAnew() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 16 test")
        let old = try #require(fixture.controlled.instance(at: 0))
        old.setRequeueOnPresuspend(true)
        let bio = fixture.writeBio(sector: 10, sectors: 2, byte: 1)
        try device.submit(bio)
        let marker = Marker()
        old.held[0].mapContext = marker
        #expect(old.held[0].mapContext === marker)

        try await device.suspend(noflush: true)
        #expect(bio.state == .deferred, "pushed back, then deferred when the suspend completed")
        try await fixture.manager.load(device: "dm0", text: "0 8 test\n8 8 test")
        try await device.resume(noflush: true)
        let new = try #require(fixture.controlled.instance(at: 8))
        await new.waitForHeld(1)
        let clone = new.held[0]
        #expect(clone.storage === bio)
        #expect(clone.sector == 10 && clone.sectors == 2 && clone.targetStart == 8 && clone.targetIndex == 1)
        #expect(clone.target === new)
        #expect(clone.mapContext == nil, "a new split clears the target's context")
        new.endAll(.ok)
        #expect(await bio.wait() == nil)
        withExtendedLifetime(marker) {}
    }
}
