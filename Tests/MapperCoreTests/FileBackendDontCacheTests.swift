import Foundation
import Testing

@testable import MapperCore

#if canImport(Glibc)
    import Glibc
#endif

/// A copy's I/O (``BlockRequest/dontCache``) on a file backend: the same data as plain I/O in
/// both directions, and a read that leaves no folios of its own in the page cache where the
/// file system supports `RWF_DONTCACHE` (ext4, xfs); where it does not (tmpfs), plain I/O.
@Suite("file backend: copies leave the page cache as they found it")
struct FileBackendDontCacheTests {
    final class Ignored: BlockIOCompletion, Sendable {
        func endIO(_ error: Errno?) {}
    }

    static let mib = 1 << 20

    /// Runs one request on `backend` synchronously.
    static func run(
        _ backend: FileBackend, _ op: BioOp, at byte: Int, _ buffer: IOBuffer, dontCache: Bool
    ) -> Errno? {
        var request = BlockRequest(
            op: op, sector: UInt64(byte >> 9), sectors: UInt64(buffer.count >> 9), buffer: buffer, bufferOffset: 0,
            completion: Ignored())
        request.dontCache = dontCache
        return backend.perform(request)
    }

    /// How many of the pages of `[byte, byte + count)` of the file are in the page cache.
    static func residentPages(_ url: URL, at byte: Int, count: Int) throws -> Int {
        let fd = open(url.path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let map = try #require(mmap(nil, count, PROT_READ, MAP_SHARED, fd, off_t(byte)))
        try #require(map != MAP_FAILED)
        defer { munmap(map, count) }
        let pages = count / Int(sysconf(Int32(_SC_PAGESIZE)))
        var vector = [UInt8](repeating: 0, count: pages)
        try #require(mincore(map, count, &vector) == 0)
        return vector.filter { $0 & 1 != 0 }.count
    }

    /// Writes back the file's dirty pages and waits for them.
    static func flush(_ url: URL) throws {
        let fd = open(url.path, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(fsync(fd) == 0)
    }

    /// Drops the file's clean pages from the page cache, after writing back the dirty ones.
    static func dropCache(_ url: URL) throws {
        let fd = open(url.path, O_RDWR)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(fsync(fd) == 0)
        try #require(posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) == 0)
    }

    @Test(
        "a copy's writes and reads see and leave what plain I/O does; its read leaves no folios of its own",
        arguments: ["temporary directory", "tmpfs"])
    func coherentAndUncached(medium: String) throws {
        let base =
            medium == "tmpfs" ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        guard FileManager.default.fileExists(atPath: base.path) else { return }
        let directory = base.appendingPathComponent("mapperd-test-dontcache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("f.img")
        let backend = try FileBackend(name: "f", file: "f.img", url: url, createSizeBytes: UInt64(4 * Self.mib))
        let mib = Self.mib

        // Plain write, copy read: the copy sees it.
        let a = IOBuffer(count: mib)
        a.base.initializeMemory(as: UInt8.self, repeating: 0xA5, count: mib)
        #expect(Self.run(backend, .write, at: 0, a, dontCache: false) == nil)
        let seen = IOBuffer(count: mib)
        #expect(Self.run(backend, .read, at: 0, seen, dontCache: true) == nil)
        #expect(memcmp(seen.base, a.base, mib) == 0)

        // Copy write, plain read: the file holds it.
        let b = IOBuffer(count: mib)
        for i in 0..<mib {
            b.base.storeBytes(of: UInt8(truncatingIfNeeded: i &* 31 &+ 7), toByteOffset: i, as: UInt8.self)
        }
        #expect(Self.run(backend, .write, at: mib, b, dontCache: true) == nil)
        #expect(Self.run(backend, .read, at: mib, seen, dontCache: false) == nil)
        #expect(memcmp(seen.base, b.base, mib) == 0)

        if medium == "tmpfs" {
            // tmpfs refuses the flag (its page cache is the file): the copy fell back to plain I/O.
            #expect(backend.dontCacheWasRefused)
            return
        }
        #expect(!backend.dontCacheWasRefused, "ext4 and xfs take RWF_DONTCACHE")

        // The page cache: a copy's read of an uncached range leaves (almost) nothing cached;
        // a plain read of another leaves it cached (the measure works). The kernel drops each
        // folio with a try-lock, so one locked by someone else at that instant would stay;
        // nothing else touches this file.
        try Self.dropCache(url)
        #expect(try Self.residentPages(url, at: mib, count: mib) == 0, "dropped")
        #expect(Self.run(backend, .read, at: mib, seen, dontCache: true) == nil)
        #expect(memcmp(seen.base, b.base, mib) == 0)
        let pages = mib / Int(sysconf(Int32(_SC_PAGESIZE)))
        let left = try Self.residentPages(url, at: mib, count: mib)
        #expect(left < pages / 4, "\(left) of \(pages) pages left cached by a copy's read")
        #expect(Self.run(backend, .read, at: 3 * mib, seen, dontCache: false) == nil)
        #expect(try Self.residentPages(url, at: 3 * mib, count: mib) == pages, "a plain read caches")
    }

    @Test("dropCachedPages drops the clean cached pages of its range only, and loses no write")
    func dropCachedPages() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mapperd-test-dropcache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("f.img")
        let mib = Self.mib
        let backend = try FileBackend(name: "f", file: "f.img", url: url, createSizeBytes: UInt64(4 * mib))
        // Written in 64 KiB pieces: the kernel drops whole folios only, and a large one reaching
        // past the range (as a single 4 MiB write may leave) stays.
        let piece = IOBuffer(count: 64 << 10)
        piece.base.initializeMemory(as: UInt8.self, repeating: 0x3C, count: 64 << 10)
        for offset in stride(from: 0, to: 4 * mib, by: 64 << 10) {
            #expect(Self.run(backend, .write, at: offset, piece, dontCache: false) == nil)
        }
        let flush = BlockRequest(op: .flush, sector: 0, sectors: 0, buffer: nil, bufferOffset: 0, completion: Ignored())
        #expect(backend.perform(flush) == nil)
        let pages = mib / Int(sysconf(Int32(_SC_PAGESIZE)))
        for part in 0..<4 { #expect(try Self.residentPages(url, at: part * mib, count: mib) == pages) }

        // The second MiB, clean: dropped; its neighbours stay.
        backend.dropCachedPages(sector: UInt64(mib >> 9), sectors: UInt64(mib >> 9))
        #expect(try Self.residentPages(url, at: mib, count: mib) == 0, "the range's clean pages are dropped")
        #expect(try Self.residentPages(url, at: 0, count: mib) == pages)
        #expect(try Self.residentPages(url, at: 2 * mib, count: mib) == pages)

        // A write not yet written back survives a drop over it (and a range past the end is
        // clipped to the file).
        let later = IOBuffer(count: mib)
        later.base.initializeMemory(as: UInt8.self, repeating: 0xD7, count: mib)
        #expect(Self.run(backend, .write, at: 3 * mib, later, dontCache: false) == nil)
        backend.dropCachedPages(sector: UInt64((3 * mib) >> 9), sectors: UInt64((2 * mib) >> 9))
        let seen = IOBuffer(count: mib)
        #expect(Self.run(backend, .read, at: 3 * mib, seen, dontCache: false) == nil)
        #expect(memcmp(seen.base, later.base, mib) == 0)
        let reopened = try FileHandle(forReadingFrom: url)
        defer { try? reopened.close() }
        try reopened.seek(toOffset: UInt64(3 * mib))
        #expect(try reopened.read(upToCount: mib)?.allSatisfy { $0 == 0xD7 } == true)
        // Past the end: nothing to do, no trap.
        backend.dropCachedPages(sector: UInt64((8 * mib) >> 9), sectors: 8)
    }
}
