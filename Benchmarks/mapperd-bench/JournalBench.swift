import Foundation
import Logging
import MapperCore
import MapperPostgres
import MapperStore
import MapperTestSupport

/// `mapperd-bench journal`: durable queueing of 4 KiB writes (64 submitters, durability
/// full) against the same number of plain completed writes in the same run, the end of an
/// outage (``drainCount`` queued bios dequeued and ended), and the time to recover 10,000 and
/// 100,000 queued bios at start-up; on the SQLite store, and (when
/// PostgreSQL is installed) on the PostgreSQL store too, against a throw-away cluster with
/// `fsync` on (names ending `.postgres`). Queueing runs three rounds with the stores
/// interleaved and keeps each store's best round.
struct JournalBench {
    let options: BenchOptions
    static let submitters = 64
    static let table = "0 262144 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1"
    static let plainTable = "0 262144 linear disk 0"

    func run() async throws {
        let directory = URL(fileURLWithPath: options.directories.last ?? NSTemporaryDirectory())
            .appendingPathComponent("mapperd-bench-journal-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kinds = StoreKind.available.filter { kind in
            options.filter.map { "journal.queue\(Self.suffix(kind))".contains($0) } ?? true
        }
        if kinds.contains(.postgres) { PostgresTestServer.durableCommits = true }
        // Three rounds, the stores interleaved (the disk's background writeback from one
        // store's round weighs on the next, whichever it is); the best round of each is kept.
        var best: [StoreKind: Queueing] = [:]
        for round in 0..<3 {
            for kind in kinds {
                let result = try await queueing(
                    kind, in: directory.appendingPathComponent("queue\(Self.suffix(kind))-\(round)"))
                if result.queued > best[kind]?.queued ?? 0 { best[kind] = result }
            }
        }
        for kind in kinds {
            guard let result = best[kind] else { continue }
            BenchReport.emit([
                ("bench", "journal.queue.4k.c64\(Self.suffix(kind))"), ("biosPerSec", Int(result.queued)),
                ("baselineBiosPerSec", Int(result.plain)),
                ("ratio", result.queued / result.plain), ("goalBiosPerSec", 20_000), ("bios", result.bios),
                ("commits", result.commits),
                ("durability", kind == .postgres ? "synchronous_commit on, fsync on" : "full"),
            ])
        }
        if let sqlite = best[.sqlite]?.queued, let postgres = best[.postgres]?.queued {
            BenchReport.emit([
                ("bench", "journal.queue.4k.c64.postgres-vs-sqlite"), ("biosPerSec", Int(postgres)),
                ("baselineBiosPerSec", Int(sqlite)), ("ratio", postgres / sqlite), ("goalRatio", 0.5),
            ])
        }
        var drained: [StoreKind: Double] = [:]
        for kind in StoreKind.available
        where options.filter.map({ "journal.drain.\(Self.drainCount)\(Self.suffix(kind))".contains($0) }) ?? true {
            if kind == .postgres { PostgresTestServer.durableCommits = true }
            drained[kind] = try await drain(kind, in: directory.appendingPathComponent("drain\(Self.suffix(kind))"))
        }
        if let sqlite = drained[.sqlite], let postgres = drained[.postgres] {
            BenchReport.emit([
                ("bench", "journal.drain.\(Self.drainCount).postgres-vs-sqlite"), ("biosPerSec", Int(postgres)),
                ("baselineBiosPerSec", Int(sqlite)), ("ratio", postgres / sqlite),
            ])
        }
        for kind in StoreKind.available {
            if kind == .postgres { PostgresTestServer.durableCommits = true }
            for count in [10_000, 100_000]
            where options.filter.map({ "journal.recover.\(count)\(Self.suffix(kind))".contains($0) }) ?? true {
                try await recovery(
                    kind, count: count, in: directory.appendingPathComponent("recover-\(count)\(Self.suffix(kind))"))
            }
        }
    }

    /// Names of PostgreSQL figures end in `.postgres`.
    private static func suffix(_ kind: StoreKind) -> String { kind == .postgres ? ".postgres" : "" }

    /// A fresh store of `kind`: an SQLite file in `directory`, or a new PostgreSQL database
    /// (its location is kept in `directory/store`, for the recovering child).
    private static func openStore(_ kind: StoreKind, in directory: URL, fresh: Bool) async throws -> any DurableStore {
        let file = directory.appendingPathComponent("store")
        switch kind {
        case .sqlite:
            return try SQLiteStore(path: DataDirectory.databasePath(in: directory))
        case .postgres:
            if fresh { try Data(try await PostgresTestServer.database().utf8).write(to: file) }
            // With a host identity, as a server has: every commit is fenced by epoch.
            return try await PostgresStore(
                location: PostgresLocation(String(decoding: try Data(contentsOf: file), as: UTF8.self)),
                host: HostIdentity(id: "bench", lease: .seconds(10)))
        }
    }

    /// An engine over a fresh store in `directory`, with a backend `disk`, a failed path `p1`,
    /// a queueing multipath device `mp` and a linear device `lin`.
    private func setUp(_ kind: StoreKind, _ directory: URL) async throws -> (any DurableStore, DeviceManager) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try await Self.openStore(kind, in: directory, fresh: true)
        _ = try await store.ownership?.start()
        let manager = DeviceManager(engine: store.engineServices())
        try await manager.createBackend(
            name: "disk", file: "disk.img", url: directory.appendingPathComponent("disk.img"), sizeBytes: 262_144 * 512)
        try await manager.createPath(name: "p1", backend: "disk")
        try await manager.createDevice(name: "mp", table: TableParser.parse(Self.table))
        try await manager.createDevice(name: "lin", table: TableParser.parse(Self.plainTable))
        try await manager.failPath(named: "p1")
        return (store, manager)
    }

    /// Runs `total` writes from 64 submitters; each waits until its bio ended or is durably queued.
    private func drive(_ manager: DeviceManager, device: MappedDevice, total: Int) async -> Double {
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for submitter in 0..<Self.submitters {
                group.addTask {
                    // Bytes like a disk's (they do not compress), different per submitter.
                    var seed = UInt64(submitter + 1) &* 0x9E37_79B9_7F4A_7C15
                    let bytes = (0..<4096).map { _ -> UInt8 in
                        seed ^= seed << 13
                        seed ^= seed >> 7
                        seed ^= seed << 17
                        return UInt8(truncatingIfNeeded: seed)
                    }
                    let buffer = IOBuffer(copying: bytes)
                    for index in stride(from: submitter, to: total, by: Self.submitters) {
                        let bio = manager.makeBio(
                            op: .write, sector: UInt64(index % 32768) * 8, sectors: 8, buffer: buffer)
                        try? device.submit(bio)
                        await bio.waitUntilEndedOrDurablyQueued()
                    }
                }
            }
        }
        return seconds(since: start)
    }

    /// One round of durable queueing and of plain writes.
    private struct Queueing {
        var queued: Double
        var plain: Double
        var bios: Int
        var commits: Int
    }

    /// Measures one round: the durable queueing rate and the plain write rate (bios per second).
    private func queueing(_ kind: StoreKind, in directory: URL) async throws -> Queueing {
        let (store, manager) = try await setUp(kind, directory)
        let total = max(20_000, Int(options.seconds * 100_000))
        let commitsBefore = store.statistics.commits
        let queuedSeconds = await drive(manager, device: try manager.device(named: "mp"), total: total)
        let commits = store.statistics.commits - commitsBefore
        let plainSeconds = await drive(manager, device: try manager.device(named: "lin"), total: total)
        await store.close()
        try? FileManager.default.removeItem(at: directory)
        return Queueing(
            queued: Double(total) / queuedSeconds, plain: Double(total) / plainSeconds, bios: total,
            commits: Int(commits))
    }

    /// Bios queued (every path down) before the drain.
    static let drainCount = 20_000

    /// Queues ``drainCount`` writes with every path down, then reinstates the path and times
    /// how long until every one has ended and the store has committed their ends (what an
    /// outage's end costs the journal); returns bios per second.
    private func drain(_ kind: StoreKind, in directory: URL) async throws -> Double {
        let (store, manager) = try await setUp(kind, directory)
        let device = try manager.device(named: "mp")
        let buffer = IOBuffer(copying: [UInt8](repeating: 0xA5, count: 4096))
        var bios: [Bio] = []
        for index in 0..<Self.drainCount {
            let bio = manager.makeBio(op: .write, sector: UInt64(index % 32768) * 8, sectors: 8, buffer: buffer)
            try device.submit(bio)
            bios.append(bio)
        }
        for bio in bios { await bio.waitUntilEndedOrDurablyQueued() }
        let start = ContinuousClock.now
        try await manager.reinstatePath(named: "p1")
        for bio in bios { _ = await bio.wait() }
        await store.committed()
        let rate = Double(Self.drainCount) / seconds(since: start)
        BenchReport.emit([
            ("bench", "journal.drain.\(Self.drainCount)\(Self.suffix(kind))"), ("biosPerSec", Int(rate)),
            ("bios", Self.drainCount),
        ])
        await store.close()
        try? FileManager.default.removeItem(at: directory)
        return rate
    }

    /// Queues `count` bios, drops the engine, then recovers in a fresh process (a real
    /// restart: cold allocator, store opened from scratch) and reports that process's time.
    private func recovery(_ kind: StoreKind, count: Int, in directory: URL) async throws {
        let (store, manager) = try await setUp(kind, directory)
        _ = await drive(manager, device: try manager.device(named: "mp"), total: count)
        await store.close()
        // Let the setup's writes reach the disk so they do not compete with the measurement.
        sync()
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["recover-once", directory.path, kind.rawValue]
        let pipe = Pipe()
        child.standardOutput = pipe
        try child.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        child.waitUntilExit()
        let fields = String(decoding: output, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap {
            Double($0)
        }
        guard fields.count == 3 else {
            throw MapperError(.EIO, "recover-once failed: \(String(decoding: output, as: UTF8.self))")
        }
        BenchReport.emit([
            ("bench", "journal.recover.\(count)\(kind == .postgres ? ".postgres" : "")"), ("seconds", fields[0]),
            ("budgetSeconds", 2.0),
            ("ratio", fields[0] / 2.0), ("recovered", Int(fields[1])), ("queuedAfter", Int(fields[2])),
        ])
    }

    /// The child side of ``recovery(count:in:)``: opens the store in `directory`, recovers,
    /// prints `seconds recovered queued`.
    static func recoverOnce(directory: URL, kind: StoreKind) async throws {
        let start = ContinuousClock.now
        let store = try await openStore(kind, in: directory, fresh: false)
        // As a server starts: take the lease and adopt this host's devices, then recover them.
        let owned = try await store.ownership?.start().owned
        let manager = DeviceManager(engine: store.engineServices())
        let report = try await StoreRecovery.recover(
            store: store, into: manager, dataDirectory: directory, logger: Logger(label: "bench"),
            devices: owned.map { Set($0.keys) })
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let queued = try manager.device(named: "mp").info.io.queued
        FileHandle.standardOutput.write(Data("\(seconds) \(report.bios) \(queued)\n".utf8))
        await store.close()
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
