import Foundation
import MapperCore

extension ThinBench {
    /// One round of first writes: thin device `id` of `pool` (the mapped device `poolName`),
    /// `blocks` blocks long, against a linear device over a new sparse file of the same size,
    /// timed one after the other (`thinFirst` says which goes first), each block written once
    /// in a random order. `prepare` runs on the thin device before the timing, `check` after
    /// it; then both devices and the file are removed and the thin device deleted. Returns the
    /// writes per second of each.
    func firstWriteRound(
        manager: DeviceManager, pool: MappedDevice, poolName: String, id: Int, blocks: UInt64, in dir: URL,
        thinFirst: Bool, prepare: (Door) async -> Void = { _ in }, check: () throws -> Void = {}
    ) async throws -> (thin: Double, linear: Double) {
        let sectors = blocks * Self.blockSectors
        _ = try await pool.message("create_thin \(id)")
        let device = try await manager.createDevice(
            name: "\(poolName)-t\(id)", table: TableParser.parse("0 \(sectors) thin \(poolName) \(id)"))
        let file = dir.appendingPathComponent("\(poolName)-fresh\(id).img")
        try await manager.createBackend(
            name: "\(poolName)-fresh\(id)", file: file.lastPathComponent, url: file, sizeBytes: sectors << 9)
        let fresh = try await manager.createDevice(
            name: "\(poolName)-l\(id)", table: TableParser.parse("0 \(sectors) linear \(poolName)-fresh\(id) 0"))
        let thin = Door(device: device, manager: manager)
        let lin = Door(device: fresh, manager: manager)
        await prepare(thin)
        let rates = await Self.firstWrites(
            thin, lin, order: Self.shuffled(blocks, seed: UInt64(id)),
            thinFirst: thinFirst)
        try check()
        thin.close()
        lin.close()
        try await manager.removeDevice(named: "\(poolName)-t\(id)")
        try await manager.removeDevice(named: "\(poolName)-l\(id)")
        try await manager.removeBackend(named: "\(poolName)-fresh\(id)")
        try? FileManager.default.removeItem(at: file)
        _ = try await pool.message("delete \(id)")
        return rates
    }
}
