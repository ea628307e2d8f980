import Foundation
import HTTPTypes
import MapperCore
import MapperTestSupport
import Testing

@testable import MapperServer

@Suite("Bounded memory")
struct BoundedMemoryTests {
    @Test("an ended bio leaves a summary in the registry, and its payload goes with it")
    func endedBiosReleaseTheirPayload() async throws {
        let fixture = try await RouterFixture()
        let runtime = fixture.runtime
        try await runtime.manager.createBackend(
            name: "d0", file: "d0.img", url: fixture.directory.appendingPathComponent("d0.img"), sizeBytes: 1 << 20)
        let device = try await runtime.manager.createDevice(name: "lin", table: TableParser.parse("0 2048 linear d0 0"))
        weak var released: Bio?
        var id: UInt64 = 0
        do {
            let bio = runtime.manager.makeBio(
                op: .write, sector: 0, sectors: 128, buffer: IOBuffer(copying: [UInt8](repeating: 1, count: 65536)))
            released = bio
            id = bio.id
            _ = runtime.bios.register(bio, device: device)
            #expect(try await device.perform(bio) == nil)
        }
        #expect(released == nil)
        #expect(runtime.bios.liveCount == 0)
        let entry = try #require(runtime.bios.entry(id: id))
        #expect(entry.summary.state == .completed && entry.summary.sectors == 128)
        // The same through HTTP, reads included: nothing stays live.
        try await fixture.run { client in
            for offset in stride(from: 0, to: 1 << 20, by: 65536) {
                let write = try await client.call(
                    .put, "/v1/devices/lin/data?offset=\(offset)", bytes: [UInt8](repeating: 2, count: 65536))
                let read = try await client.call(.get, "/v1/devices/lin/data?offset=\(offset)&length=65536")
                #expect(write.status == 204 && read.status == 200)
            }
        }
        #expect(runtime.bios.liveCount == 0)
        #expect(runtime.bios.entries.count == 33)
    }

    @Test("respond-async writes to a stalled path are answered 202 and leave no waiter behind")
    func noWaiterLeftBehind() async throws {
        let fixture = try await RouterFixture(respondAsyncWait: .milliseconds(1))
        let runtime = fixture.runtime
        try await fixture.run { client in
            try await client.call(.post, "/v1/backends", json: #"{"name":"d0","file":"d0.img","sizeBytes":1048576}"#)
            try await client.call(.post, "/v1/paths", json: #"{"name":"p1","backend":"d0"}"#)
            try await client.call(
                .post, "/v1/devices",
                json: #"{"name":"mp","table":{"text":"0 2048 multipath 0 0 1 1 round-robin 0 1 1 p1 1"}}"#)
            try await client.call(.put, "/v1/paths/p1/fault", json: #"{"mode":"stall"}"#)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        try await client.call(
                            .put, "/v1/devices/mp/data?offset=\(index % 4 * 512)",
                            bytes: [UInt8](repeating: UInt8(index % 250), count: 512),
                            headers: [HTTPField.Name("Prefer")!: "respond-async"]
                        ).status
                    }
                }
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            #expect(statuses.count == 200 && statuses.allSatisfy { $0 == 202 })
            let live = runtime.bios.liveBios
            #expect(live.count == 200)
            #expect(live.allSatisfy { $0.waiterCount == 0 })
            try await client.call(.put, "/v1/paths/p1/fault", json: #"{"mode":"none"}"#)
            for bio in live { #expect(await bio.wait() == nil) }
            #expect(runtime.bios.liveCount == 0)
        }
    }

    @Test("past its capacity the registry drops the oldest ended bios, never a live one")
    func pruning() async throws {
        let fixture = try await RouterFixture()
        let runtime = fixture.runtime
        let device = try await runtime.manager.createDevice(name: "z", table: TableParser.parse("0 64 zero"))
        let registry = BioRegistry(capacity: 8)
        // The oldest bio never ends (it is never submitted).
        let live = runtime.manager.makeBio(op: .read, sector: 0, sectors: 1, buffer: IOBuffer(count: 512))
        _ = registry.register(live, device: device)
        var ended: [UInt64] = []
        for index in 0..<30 {
            let bio = runtime.manager.makeBio(
                op: .write, sector: 0, sectors: 1, buffer: IOBuffer(count: 512), idempotencyKey: "k\(index)")
            _ = registry.register(bio, device: device)
            #expect(try await device.perform(bio) == nil)
            ended.append(bio.id)
        }
        #expect(registry.count <= 8 + 8 / 4 + 1)
        #expect(registry.entry(id: live.id) != nil)
        #expect(registry.entry(id: ended[0]) == nil && !registry.contains(device: device, idempotencyKey: "k0"))
        #expect(registry.entry(id: ended[29]) != nil && registry.contains(device: device, idempotencyKey: "k29"))
        live.fail(.EIO)
    }
}
