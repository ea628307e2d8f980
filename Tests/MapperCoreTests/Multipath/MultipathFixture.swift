import MapperCore
import MapperTestSupport
import Testing

/// A backend `disk` of 4096 sectors with paths `p1`...`p4` to it.
struct MultipathFixture {
    let engine: EngineFixture
    var manager: DeviceManager { engine.manager }

    init(paths: Int = 4, queueLimits: QueueLimits = .defaults, store: any StateStore = InMemoryStateStore())
        async throws
    {
        engine = try EngineFixture(queueLimits: queueLimits, store: store)
        try await engine.backend("disk", sectors: 4096)
        for index in 1...paths { try await engine.manager.createPath(name: "p\(index)", backend: "disk") }
    }

    /// `0 <length> multipath` over p1, p2 (round-robin, repeat 1), optionally queueing.
    static func table(queue: Bool, paths: [String] = ["p1", "p2"], start: Int = 0, length: Int = 2048) -> String {
        let features = queue ? "1 queue_if_no_path" : "0"
        let list = paths.map { "\($0) 1" }.joined(separator: " ")
        return "\(start) \(length) multipath \(features) 0 1 1 round-robin 0 \(paths.count) 1 \(list)"
    }

    func device(queue: Bool, paths: [String] = ["p1", "p2"]) async throws -> MappedDevice {
        try await engine.device("mp", table: Self.table(queue: queue, paths: paths))
    }

    /// Two multipath targets: sectors 0..<1024 over `first`, 1024..<2048 over `second`.
    func spanningDevice(queue: Bool, first: [String] = ["p1"], second: [String] = ["p2"]) async throws -> MappedDevice {
        try await engine.device(
            "mp",
            table: Self.table(queue: queue, paths: first, length: 1024) + "\n"
                + Self.table(queue: queue, paths: second, start: 1024, length: 1024))
    }

    func failAll(_ names: [String] = ["p1", "p2"]) async throws {
        for name in names { try await manager.failPath(named: name) }
    }

    /// A write of `sectors` sectors of `byte` at `sector`, submitted (not awaited).
    func submitWrite(_ device: MappedDevice, sector: UInt64, sectors: UInt64 = 8, byte: UInt8) throws -> Bio {
        let bio = engine.writeBio(sector: sector, sectors: sectors, byte: byte)
        try device.submit(bio)
        return bio
    }

    /// Whether the backend holds `byte` over the range.
    func landed(sector: Int, sectors: Int = 8, byte: UInt8) throws -> Bool {
        try engine.fileBytes("disk", offset: sector * 512, count: sectors * 512)
            == [UInt8](repeating: byte, count: sectors * 512)
    }

    func multipath(_ device: MappedDevice, at index: Int = 0) throws -> MultipathTarget {
        try #require(device.liveTable?.targets[index].target as? MultipathTarget)
    }
}
