import Foundation
import MapperCore
import MapperTestSupport
import Testing

@testable import MapperServer

/// The registry spread over several shards: idempotency keys stay exact across shards and
/// concurrent requests, listing is newest first over all shards, and pruning keeps every bio
/// that has not ended.
@Suite("Bio registry shards")
struct BioRegistryTests {
    /// A router fixture with a zero device `z` of 64 sectors.
    static func zeroDevice() async throws -> (RouterFixture, MappedDevice) {
        let fixture = try await RouterFixture()
        let device = try await fixture.runtime.manager.createDevice(name: "z", table: TableParser.parse("0 64 zero"))
        return (fixture, device)
    }

    @Test("one key sent by eight concurrent requests registers exactly one bio, whichever shard each id lands in")
    func keysAcrossShards() async throws {
        let (fixture, device) = try await Self.zeroDevice()
        let manager = fixture.runtime.manager
        let registry = BioRegistry(capacity: 4096, shards: 4)
        for round in 0..<20 {
            let bios = (0..<8).map { _ in
                manager.makeBio(op: .read, sector: 0, sectors: 1, buffer: IOBuffer(count: 512), idempotencyKey: "key-\(round)")
            }
            let newCount = await withTaskGroup(of: Bool.self) { group in
                for bio in bios { group.addTask { registry.register(bio, device: device).isNew } }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(newCount == 1, "round \(round)")
            #expect(registry.contains(device: device, idempotencyKey: "key-\(round)"))
        }
        #expect(registry.count == 20 && registry.liveCount == 20)
        for bio in registry.liveBios { bio.fail(.EIO) }
        #expect(registry.liveCount == 0)
    }

    @Test("entries are listed newest first over all shards; a forgotten bio frees its key")
    func listingAndForget() async throws {
        let (fixture, device) = try await Self.zeroDevice()
        let manager = fixture.runtime.manager
        let registry = BioRegistry(capacity: 4096, shards: 3)
        var ids: [UInt64] = []
        for index in 0..<10 {
            let bio = manager.makeBio(op: .read, sector: 0, sectors: 1, buffer: IOBuffer(count: 512), idempotencyKey: "k\(index)")
            _ = registry.register(bio, device: device)
            ids.append(bio.id)
        }
        #expect(registry.entries.map(\.summary.id) == ids.reversed())
        registry.forget(ids[4])
        #expect(registry.entry(id: ids[4]) == nil && !registry.contains(device: device, idempotencyKey: "k4"))
        for bio in registry.liveBios { bio.fail(.EIO) }
    }

    @Test("pruning per shard drops the oldest ended bios and their keys, never a live one")
    func pruningPerShard() async throws {
        let (fixture, device) = try await Self.zeroDevice()
        let manager = fixture.runtime.manager
        let registry = BioRegistry(capacity: 16, shards: 4)
        let live = manager.makeBio(op: .read, sector: 0, sectors: 1, buffer: IOBuffer(count: 512))
        _ = registry.register(live, device: device)
        var ended: [UInt64] = []
        for index in 0..<100 {
            let bio = manager.makeBio(op: .read, sector: 0, sectors: 1, buffer: IOBuffer(count: 512), idempotencyKey: "k\(index)")
            _ = registry.register(bio, device: device)
            bio.fail(.EIO)
            ended.append(bio.id)
        }
        // Four shards of capacity 4, each pruned past 5: at most 5 each, plus the live bio.
        #expect(registry.count <= 4 * 5 + 1)
        #expect(registry.entry(id: live.id) != nil)
        #expect(registry.entry(id: ended[0]) == nil && !registry.contains(device: device, idempotencyKey: "k0"))
        #expect(registry.entry(id: ended[99]) != nil && registry.contains(device: device, idempotencyKey: "k99"))
        live.fail(.EIO)
    }

    @Test("a bio still live when its ring comes round is kept aside until it ends, then dropped at the next wrap")
    func parkedUntilEnded() async throws {
        let (fixture, device) = try await Self.zeroDevice()
        let manager = fixture.runtime.manager
        let registry = BioRegistry(capacity: 4, shards: 1)
        func registerEnded() -> UInt64 {
            let bio = registry.makeBio(on: device, manager: manager, op: .read, sector: 0, sectors: 1, buffer: nil)
            bio.fail(.EIO)
            return bio.id
        }
        // Never submitted: live until the test fails it.
        let live = manager.makeBio(op: .read, sector: 0, sectors: 1, buffer: IOBuffer(count: 512))
        _ = registry.register(live, device: device)
        let first = (0..<3).map { _ in registerEnded() }
        #expect(registry.count == 4)
        // The fourth takes the live bio's place in the ring: it is kept aside.
        let fourth = registerEnded()
        #expect(registry.count == 5 && registry.liveCount == 1)
        #expect(registry.entry(id: live.id)?.summary.state == .inflight)
        #expect(registry.entry(id: first[0]) != nil && registry.entry(id: fourth) != nil)
        // Ended: still reported, with its outcome, until the ring wraps around.
        live.fail(.EIO)
        #expect(registry.liveCount == 0)
        #expect(registry.entry(id: live.id)?.summary.error == .EIO)
        let later = (0..<3).map { _ in registerEnded() }
        #expect(registry.entry(id: live.id) == nil)
        #expect(registry.entry(id: first[0]) == nil)
        #expect(registry.count == 4)
        #expect(registry.entries.map(\.summary.id) == (later + [fourth]).sorted(by: >))
    }

    @Test("a bio the registry makes ends through its record, which then keeps no payload")
    func madeByTheRegistry() async throws {
        let fixture = try await RouterFixture()
        let runtime = fixture.runtime
        try await runtime.manager.createBackend(
            name: "d0", file: "d0.img", url: fixture.directory.appendingPathComponent("d0.img"), sizeBytes: 1 << 20)
        let device = try await runtime.manager.createDevice(name: "lin", table: TableParser.parse("0 2048 linear d0 0"))
        let registry = BioRegistry(capacity: 64, shards: 2)
        weak var payload: IOBuffer?
        var id: UInt64 = 0
        do {
            let buffer = IOBuffer(count: 4096)
            payload = buffer
            let bio = registry.makeBio(
                on: device, manager: runtime.manager, op: .write, sector: 8, sectors: 8, buffer: buffer)
            id = bio.id
            #expect(registry.entry(id: id)?.summary.state == .inflight)
            try device.submit(bio)
            #expect(await bio.wait() == nil)
        }
        #expect(payload == nil)
        #expect(registry.liveCount == 0)
        let summary = try #require(registry.entry(id: id)?.summary)
        #expect(summary.state == .completed && summary.sector == 8 && summary.sectors == 8)
    }
}
