import Foundation
import MapperCore
import MapperTestSupport
import Synchronization
import Testing

/// The fast path against every suspend ordering, by brute force: four submitters keep I/O
/// (batches of 16 bios in flight)
/// going to a two-target linear device (bios inside one target take the lock-free path,
/// bios across the boundary the locked one) and to a multipath device whose paths flap
/// (queued, requeued and pushed-back bios), while the devices are suspended and resumed
/// thousands of times, with and without noflush. Afterwards nothing is stranded (every bio
/// ended, nothing pending or held) and no bio ended twice (each end-I/O receiver ran once,
/// and each device counted exactly the bios it was given).
@Suite("suspend under concurrent I/O", .timeLimit(.minutes(3)))
struct SuspendStressTests {
    /// Counts how often each bio's end-I/O receiver runs.
    final class Ends: BlockIOCompletion, Sendable {
        let calls = Atomic<Int>(0)
        func endIO(_ error: Errno?) { calls.add(1, ordering: .relaxed) }
    }

    final class Tally: Sendable {
        let submitted = Mutex<[String: Int]>([:])
        let receivers = Mutex<[Ends]>([])
        let stop = Atomic<Bool>(false)
    }

    @Test("2,000 suspend/resume cycles per device under four submitters: nothing stranded, nothing ended twice")
    func suspendUnderLoad() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 8192)
        try await fixture.manager.createPath(name: "p1", backend: "disk")
        try await fixture.manager.createPath(name: "p2", backend: "disk")
        let linear = try await fixture.device("lin", table: "0 4096 linear disk 0\n4096 4096 linear disk 4096")
        let multipath = try await fixture.device(
            "mp", table: "0 8192 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1")
        let devices = [linear, multipath]
        let tally = Tally()

        let submitters = (0..<4).map { index in
            Task.detached {
                var random = SystemRandomNumberGenerator()
                var round = 0
                while !tally.stop.load(ordering: .relaxed) {
                    // A batch of 16 in flight at once, then wait for them all.
                    var batch: [Bio] = []
                    for _ in 0..<16 {
                        round += 1
                        let device = devices[round % devices.count]
                        // 16 sectors anywhere: some cross the linear device's target boundary.
                        let sector = UInt64.random(in: 0...(8192 - 16), using: &random)
                        let op: BioOp = (round + index) % 3 == 0 ? .read : .write
                        let ends = Ends()
                        let bio = fixture.manager.makeBio(
                            op: op, sector: sector, sectors: 16, buffer: IOBuffer(count: 16 * 512))
                        bio.setEndIO(ends)
                        do {
                            try device.submit(bio)
                        } catch {
                            Issue.record("submit refused: \(error)")
                            continue
                        }
                        tally.submitted.withLock { $0[device.name, default: 0] += 1 }
                        tally.receivers.withLock { $0.append(ends) }
                        batch.append(bio)
                    }
                    for bio in batch { _ = await bio.wait() }
                    // File I/O ends inline: without a yield a submitter would keep its thread.
                    await Task.yield()
                }
            }
        }
        let flapper = Task.detached {
            let paths = fixture.manager.paths
            var random = SystemRandomNumberGenerator()
            while !tally.stop.load(ordering: .relaxed) {
                let path = paths[Int.random(in: 0..<paths.count, using: &random)]
                if Bool.random(using: &random) { _ = path.fail() } else { _ = path.reinstate() }
                await Task.yield()
            }
            for path in paths { _ = path.reinstate() }
        }

        var random = SystemRandomNumberGenerator()
        var seen = 0
        for cycle in 0..<2000 {
            // Let at least 16 more bios in between two cycles, so every cycle races with I/O.
            let started = ContinuousClock.now
            while true {
                let submitted = tally.submitted.withLock { $0.values.reduce(0, +) }
                if submitted >= seen + 16 {
                    seen = submitted
                    break
                }
                if ContinuousClock.now - started > .seconds(5) {
                    Issue.record(
                        "no new I/O for 5 s at cycle \(cycle): \(devices.map { "\($0.name) \($0.info.io) susp=\($0.isSuspended)" }) paths \(fixture.manager.paths.map { "\($0.name)=\($0.isActive)" }) status \(devices.map { $0.liveTable?.targets.map { $0.target.status() } ?? [] })"
                    )
                    tally.stop.store(true, ordering: .relaxed)
                    return
                }
                await Task.yield()
            }
            for device in devices {
                let noflush = Bool.random(using: &random)
                do {
                    try await device.suspend(noflush: noflush, timeout: .seconds(5))
                } catch {
                    Issue.record(
                        "suspend \(device.name) noflush=\(noflush) cycle \(cycle): \(error) \(devices.map { "\($0.name) \($0.info.io) susp=\($0.isSuspended)" }) paths \(fixture.manager.paths.map { "\($0.name)=\($0.isActive)" }) status \(devices.map { $0.liveTable?.targets.map { $0.target.status() } ?? [] })"
                    )
                    tally.stop.store(true, ordering: .relaxed)
                    return
                }
                #expect(device.isSuspended)
                if cycle % 7 == 0 {
                    // A table swap now and then: the same table staged again.
                    let text = try #require(device.liveTable?.text)
                    try await fixture.manager.load(device: device.name, text: text)
                }
                try await device.resume(noflush: noflush)
            }
        }
        tally.stop.store(true, ordering: .relaxed)
        await flapper.value
        // Multipath may have queue_if_no_path off after a plain suspend's presuspend: queued
        // bios were failed then; with the paths back, everything still held drains.
        for device in devices { try await device.resume() }
        for submitter in submitters { await submitter.value }

        for device in devices {
            let io = device.info.io
            #expect(io.inFlight == 0 && io.queued == 0 && io.pushback == 0 && io.deferred == 0, "\(device.name): \(io)")
            #expect(io.heldBytes == 0)
            let statistics = device.statistics
            let ended = [BioOp.read, .write].reduce(UInt64(0)) { $0 + statistics.direction($1).latency.snapshot.count }
            let submitted = tally.submitted.withLock { $0[device.name] ?? 0 }
            #expect(ended == UInt64(submitted), "\(device.name): \(ended) ended, \(submitted) submitted")
            #expect(submitted > 10_000, "\(device.name): only \(submitted) bios")
        }
        let calls = tally.receivers.withLock { $0.map { $0.calls.load(ordering: .relaxed) } }
        #expect(
            calls.allSatisfy { $0 == 1 }, "end-I/O receivers not called exactly once: \(calls.filter { $0 != 1 }.count)"
        )
    }
}
