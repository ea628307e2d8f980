import Foundation
import MapperCore

extension ThinBench {
    /// Data blocks of the reused-blocks pool, each provisioned once per round.
    static let reusedBlocks: UInt64 = 2048
    static let reusedRounds = 6

    /// `thin.provision.reused.randwrite.4k.c1`: 4 KiB first writes to a pool whose data
    /// blocks all hold old data (a data device used before, or blocks a deleted volume left
    /// behind), so that each write provisions a 64 KiB block zeroed around its 4 KiB (the
    /// worst case of zeroing: 60 KiB of zeroes per write), against 4 KiB first writes on a
    /// linear device over a new sparse file. Each round provisions every block through a new
    /// thin device, then deletes it; the next round's flush commits the delete, so its writes
    /// get the same blocks, still holding data. No goal: printed beside the fresh pool's figure.
    func reusedProvisioning(manager: DeviceManager, in dir: URL, medium: String) async throws {
        let name = "thin.provision.reused.randwrite.4k.c1"
        guard options.filter.map({ name.contains($0) }) ?? true else { return }
        let sectors = Self.reusedBlocks * Self.blockSectors
        let oldData = dir.appendingPathComponent("old.img")
        _ = FileManager.default.createFile(atPath: oldData.path, contents: nil)
        let handle = try FileHandle(forWritingTo: oldData)
        let chunk = Data(repeating: 0x5A, count: 1 << 20)
        for _ in 0..<((sectors << 9) >> 20) { try handle.write(contentsOf: chunk) }
        try handle.close()
        try await manager.createBackend(
            name: "meta2", file: "meta2.img", url: dir.appendingPathComponent("meta2.img"), sizeBytes: 16 << 20)
        try await manager.createBackend(name: "old", file: "old.img", url: oldData)
        let pool = try await manager.createDevice(
            name: "pool2", table: TableParser.parse("0 \(sectors) thin-pool meta2 old 128 0 1 no_discard_passdown"))
        var ratios: [Double] = []
        var thinRates: [Double] = []
        var linearRates: [Double] = []
        for round in 0..<Self.reusedRounds {
            let (t, l) = try await firstWriteRound(
                manager: manager, pool: pool, poolName: "pool2", id: round, blocks: Self.reusedBlocks, in: dir,
                thinFirst: round % 2 == 0,
                // Commits the previous round's delete: its blocks are free again.
                prepare: { thin in await thin.io(.flush, sector: 0, sectors: 0) },
                check: {
                    let status = pool.liveTable?.targets.first?.target.status() ?? ""
                    guard status.contains(" \(Self.reusedBlocks)/\(Self.reusedBlocks) ") else {
                        throw MapperBenchError("round \(round) did not provision every block: \(status)")
                    }
                })
            thinRates.append(t)
            linearRates.append(l)
            ratios.append(t / l)
        }
        BenchReport.throughput(
            name, ops: Self.median(thinRates), baseline: Self.median(linearRates), ratio: Self.median(ratios),
            extra: [
                ("medium", medium), ("baseline", "linear, first writes"), ("blockKiB", 64), ("zeroing", "on"),
                ("dataBlocks", "all hold old data"),
            ])
    }
}
