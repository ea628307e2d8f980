import Foundation
import Logging
import MapperCore
import MapperServer

/// `mapperd-bench thin`: thin volumes against linear devices in the same run, per directory,
/// every bio entering as the NBD export's do (an ``ExportSession`` and its ``BioCache``):
/// - 4 KiB random writes and reads to blocks already provisioned vs the same on a `linear`
///   device over a file of the same size (paired slices, ``Throughput/compare``);
/// - 4 KiB random first writes that provision a 64 KiB block each (zeroing on) vs 4 KiB random
///   first writes on a linear device over a new sparse file, in 8 rounds of 8192 writes
///   (about 40 ms each on tmpfs), a new thin device and a new file each round, alternating
///   which goes first; the medians; and the same on a pool whose data blocks all hold old data
///   (``reusedProvisioning(manager:in:medium:)``), where every first write zeroes its block;
/// - the time to take a snapshot of a volume with 10 k, 100 k and 1 M mapped blocks (the pool's
///   data on a `zero` device, so that only the metadata is measured): the message alone, and
///   until the next commit is durable (a flush).
struct ThinBench {
    let options: BenchOptions

    /// An NBD-way submitter: a session, its bio cache, a payload and the end receiver.
    final class Door: @unchecked Sendable {
        let bios: BioCache
        let buffer = IOBuffer(count: 4096)
        let receiver = EngineBench.Receiver()
        /// This submitter's random 4 KiB blocks.
        var offsets: RandomOffsets

        init(device: MappedDevice, manager: DeviceManager, seed: UInt64 = 1, blocks: UInt64 = 1) {
            bios = BioCache(session: ExportSession(device: device, manager: manager, revoke: {}))
            offsets = RandomOffsets(seed: seed &* 0x9E37_79B9_7F4A_7C15, blocks: blocks)
        }

        /// Submits one bio as the export does and waits for its end.
        func io(_ op: BioOp, sector: UInt64, sectors: UInt64 = 8) async {
            let bio = bios.makeBio(
                op: op, sector: sector, sectors: sectors, buffer: op == .read ? bios.buffer(count: 4096) : buffer,
                endIO: receiver)
            if case .submitted = bios.session.submit(bio), bio.ended == nil { _ = await bio.wait() }
            var done: Bio? = consume bio
            bios.recycle(&done)
        }

        func close() { bios.session.close() }
    }

    static let volumeBlocks: UInt64 = 2048
    /// First writes per round, and rounds, of the provisioning comparison.
    static let provisionBlocks: UInt64 = 8192
    static let provisionRounds = 8
    static let blockSectors: UInt64 = 128

    func run() async throws {
        for directory in options.directories where wants("thin.provisioned") || wants("thin.provision.") {
            try await io(in: directory)
        }
        if wants("thin.snapshot") { try await snapshots() }
    }

    private func wants(_ name: String) -> Bool {
        options.filter.map { name.contains($0) || $0.contains(name) } ?? true
    }

    private func runtime(in directory: URL) async throws -> MapperRuntime {
        var logger = Logger(label: "mapperd-bench")
        logger.logLevel = .warning
        return try await MapperRuntime(
            configuration: ServerConfiguration(port: 0, dataDirectory: directory), logger: logger)
    }

    private func io(in directory: String) async throws {
        let dir = URL(fileURLWithPath: directory).appendingPathComponent("mapperd-bench-thin-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let medium = directory.hasPrefix("/dev/shm") ? "shm" : "disk"
        let volumeSectors = Self.volumeBlocks * Self.blockSectors
        // The linear device's file is written whole first, in 64 KiB writes, as a provisioned
        // volume's blocks are (the page cache then holds both files alike).
        let linFile = dir.appendingPathComponent("lin.img")
        _ = FileManager.default.createFile(atPath: linFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: linFile)
        let chunk = Data(repeating: 0xA5, count: 64 << 10)
        for _ in 0..<Self.volumeBlocks { try handle.write(contentsOf: chunk) }
        try handle.close()
        let runtime = try await runtime(in: dir)
        let manager = runtime.manager
        try await manager.createBackend(
            name: "meta", file: "meta.img", url: dir.appendingPathComponent("meta.img"), sizeBytes: 64 << 20)
        // Every round's first writes get blocks never used before.
        let dataBlocks = Self.volumeBlocks + Self.provisionBlocks * UInt64(Self.provisionRounds)
        try await manager.createBackend(
            name: "data", file: "data.img", url: dir.appendingPathComponent("data.img"),
            sizeBytes: dataBlocks * Self.blockSectors << 9)
        try await manager.createBackend(name: "lin", file: "lin.img", url: dir.appendingPathComponent("lin.img"))
        let pool = try await manager.createDevice(
            name: "pool", table: TableParser.parse("0 \(dataBlocks * Self.blockSectors) thin-pool meta data 128 0"))
        _ = try await pool.message("create_thin 0")
        let volume = try await manager.createDevice(
            name: "vol", table: TableParser.parse("0 \(volumeSectors) thin pool 0"))
        let linear = try await manager.createDevice(
            name: "l0", table: TableParser.parse("0 \(volumeSectors) linear lin 0"))
        // Every block of the volume provisioned (not timed).
        let filler = Door(device: volume, manager: manager)
        for block in 0..<Self.volumeBlocks { await filler.io(.write, sector: block * Self.blockSectors, sectors: 8) }
        filler.close()

        for op in [BioOp.write, .read] {
            for submitters in [1, 4] {
                let name = "thin.provisioned.rand\(op == .read ? "read" : "write").4k.c\(submitters)"
                if let filter = options.filter, !name.contains(filter) { continue }
                let thin = (0..<submitters).map { index in
                    Door(device: volume, manager: manager, seed: UInt64(index + 1), blocks: volumeSectors / 8)
                }
                let lin = (0..<submitters).map { index in
                    Door(device: linear, manager: manager, seed: UInt64(index + 1), blocks: volumeSectors / 8)
                }
                let result = await Throughput.compare(
                    submitters: submitters, seconds: options.seconds,
                    engine: { index in
                        await thin[index].io(op, sector: thin[index].offsets.next() * 8)
                    },
                    baseline: { index in
                        await lin[index].io(op, sector: lin[index].offsets.next() * 8)
                    })
                for door in thin + lin { door.close() }
                BenchReport.throughput(
                    name, ops: result.engine, baseline: result.baseline, ratio: result.ratio,
                    extra: [("medium", medium), ("baseline", "linear")])
            }
        }

        let name = "thin.provision.randwrite.4k.c1"
        if options.filter.map({ name.contains($0) }) ?? true {
            var ratios: [Double] = []
            var thinRates: [Double] = []
            var linearRates: [Double] = []
            for round in 0..<Self.provisionRounds {
                let (t, l) = try await firstWriteRound(
                    manager: manager, pool: pool, poolName: "pool", id: round + 1, blocks: Self.provisionBlocks,
                    in: dir, thinFirst: round % 2 == 0)
                thinRates.append(t)
                linearRates.append(l)
                ratios.append(t / l)
            }
            BenchReport.throughput(
                name, ops: Self.median(thinRates), baseline: Self.median(linearRates), ratio: Self.median(ratios),
                extra: [("medium", medium), ("baseline", "linear, first writes"), ("blockKiB", 64), ("zeroing", "on")])
        }
        try await reusedProvisioning(manager: manager, in: dir, medium: medium)
        await runtime.close()
    }

    /// The blocks `0..<count` in a random order (seeded).
    static func shuffled(_ count: UInt64, seed: UInt64) -> [UInt64] {
        var order = Array(0..<count)
        var random = RandomOffsets(seed: seed * 7919, blocks: UInt64.max)
        for index in order.indices.reversed() {
            order.swapAt(index, Int(random.next() % UInt64(index + 1)))
        }
        return order
    }

    /// First writes of 4 KiB, one per block in `order` (at a 4 KiB slot of the block that
    /// varies with it), through `thin` and through `lin`, one after the other (`thinFirst`
    /// says which goes first); the writes per second of each.
    static func firstWrites(_ thin: Door, _ lin: Door, order: [UInt64], thinFirst: Bool) async -> (Double, Double) {
        let time = { (door: Door) async -> Double in
            let start = ContinuousClock.now
            for block in order {
                await door.io(.write, sector: block * Self.blockSectors + (block * 5 % 16) * 8)
            }
            return Double(order.count) / Self.seconds(ContinuousClock.now - start)
        }
        if thinFirst {
            let t = await time(thin)
            return (t, await time(lin))
        }
        let l = await time(lin)
        return (await time(thin), l)
    }

    /// Snapshots of volumes with 10 k, 100 k and 1 M mapped blocks.
    private func snapshots() async throws {
        let dir = URL(fileURLWithPath: options.directories.first ?? NSTemporaryDirectory())
            .appendingPathComponent("mapperd-bench-thin-snap-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let runtime = try await runtime(in: dir)
        let manager = runtime.manager
        let blocks: UInt64 = 1 << 20
        try await manager.createBackend(
            name: "meta", file: "meta.img", url: dir.appendingPathComponent("meta.img"), sizeBytes: 512 << 20)
        _ = try await manager.createDevice(name: "z", table: TableParser.parse("0 \(blocks * Self.blockSectors) zero"))
        let pool = try await manager.createDevice(
            name: "pool",
            table: TableParser.parse("0 \(blocks * Self.blockSectors) thin-pool meta z 128 0 1 skip_block_zeroing"))
        var id = 0
        for count in [10_000, 100_000, 1_000_000] {
            let origin = id
            _ = try await pool.message("create_thin \(origin)")
            let device = try await manager.createDevice(
                name: "o\(origin)",
                table: TableParser.parse("0 \(UInt64(count) * Self.blockSectors) thin pool \(origin)"))
            let doors = (0..<4).map { _ in Door(device: device, manager: manager) }
            await withTaskGroup(of: Void.self) { group in
                for (index, door) in doors.enumerated() {
                    group.addTask {
                        for block in stride(from: index, to: count, by: 4) {
                            await door.io(.write, sector: UInt64(block) * Self.blockSectors, sectors: 1)
                        }
                    }
                }
            }
            await doors[0].io(.flush, sector: 0, sectors: 0)
            var message: [Double] = []
            var durable: [Double] = []
            for round in 0..<5 {
                id += 1
                try await device.suspend()
                let start = ContinuousClock.now
                _ = try await pool.message("create_snap \(id) \(origin)")
                let taken = ContinuousClock.now
                try await device.resume()
                await doors[0].io(.flush, sector: 0, sectors: 0)
                let end = ContinuousClock.now
                message.append(Self.seconds(taken - start))
                durable.append(Self.seconds(end - start))
                _ = round
            }
            for door in doors { door.close() }
            let status = device.liveTable?.targets.first?.target.status() ?? ""
            BenchReport.emit([
                ("bench", "thin.snapshot.\(count / 1000)k"), ("mappedBlocks", count),
                ("microseconds", Self.median(message) * 1e6),
                ("microsecondsUntilCommitted", Self.median(durable) * 1e6), ("budgetSeconds", 0.05),
                ("ratio", Self.median(message) / 0.05), ("originStatus", status),
            ])
            try await manager.removeDevice(named: "o\(origin)")
            for snapshot in (origin + 1)...id { _ = try await pool.message("delete \(snapshot)") }
            _ = try await pool.message("delete \(origin)")
            id += 1
        }
        await runtime.close()
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
