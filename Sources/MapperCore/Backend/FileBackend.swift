import CMapperSys
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A file acting as a disk: I/O is `pread`/`pwrite`/`fsync` on it, run inline on the
/// submitting thread (a tmpfs or page-cache hit costs a few microseconds; a hop to another
/// thread would cost more than the I/O).
///
/// The descriptor stays open until the last reference goes away, so I/O still in flight when
/// the backend is removed from the namespace finishes safely.
public final class FileBackend: Backend, PathTransport {
    public let name: String
    /// The file as the caller named it (relative to the data directory for the API).
    public let file: String
    /// The absolute path opened.
    public let url: URL
    /// The size: grows with ``grow(toBytes:)``, never shrinks. Relaxed: a request checked
    /// against the old size while the file grows is checked against a size it had.
    public var sizeSectors: UInt64 { size.load(ordering: .relaxed) }
    private let size: Atomic<UInt64>
    public let holders = Holders()
    public var kind: BlockNodeKind { .backend }
    public var source: BackendSource { .file(file) }
    let fd: Int32
    /// One open file description of the file per CPU shard, for reads, writes and discards:
    /// each `pread`/`pwrite` makes the kernel take a reference on its `struct file`, and
    /// submitters on different CPUs sharing one would bounce its cache line. One per possible
    /// CPU (``ShardedCounters/shardCount``), at most ``maxShardFDs``: CPUs beyond share one,
    /// which costs contention only. Shard 0 is ``fd``; the others reopen it through
    /// `/proc/self/fd` (the same file even if its name changed), or fall back to ``fd`` where
    /// that fails.
    nonisolated(unsafe) private let shardFDs: UnsafeMutablePointer<Int32>
    /// Descriptors per backend file at most (a power of two).
    static let maxShardFDs = 64
    /// The number of ``shardFDs``.
    private let shardFDCount = min(ShardedCounters.shardCount, FileBackend.maxShardFDs)
    /// ``shardFDCount`` - 1, stored: the hot path reads no lazily initialised global.
    private let shardMask = min(ShardedCounters.shardCount, FileBackend.maxShardFDs) - 1

    /// Opens `url` read-write. When the file is missing and `createSizeBytes` is given, creates
    /// it sparse with that size; when it exists and `createSizeBytes` is given, the sizes must
    /// agree. The size must be a non-zero multiple of 512 (EINVAL); open errors keep their
    /// errno.
    public init(name: String, file: String, url: URL, createSizeBytes: UInt64? = nil) throws {
        self.name = name
        self.file = file
        self.url = url
        if let size = createSizeBytes {
            guard size > 0, size % 512 == 0, size <= UInt64(Int64.max) else {
                throw MapperError(.EINVAL, "sizeBytes must be a positive multiple of 512")
            }
        }
        var fd = open(url.path, O_RDWR | O_CLOEXEC)
        var created = false
        if fd < 0 && errno == ENOENT && createSizeBytes != nil {
            fd = open(url.path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0o644)
            created = fd >= 0
        }
        guard fd >= 0 else {
            let err = Errno.current
            throw MapperError(
                err == .ENOENT ? .ENOENT : err,
                "cannot open backend file '\(file)': \(String(cString: strerror(err.rawValue)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let err = Errno.current
            Glibc.close(fd)
            throw MapperError(err, "cannot stat backend file '\(file)'")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(fd)
            throw MapperError(.EINVAL, "backend file '\(file)' is not a regular file")
        }
        var size = UInt64(st.st_size)
        if let wanted = createSizeBytes {
            if size == 0 {
                guard ftruncate(fd, off_t(wanted)) == 0 else {
                    let err = Errno.current
                    Glibc.close(fd)
                    if created { unlink(url.path) }
                    // EFBIG/EINVAL: the size is beyond what the filesystem takes.
                    let reported: Errno = err == .ENOSPC ? .ENOSPC : (err == .EIO ? .EIO : .EINVAL)
                    throw MapperError(
                        reported,
                        "cannot size backend file '\(file)' to \(wanted) bytes: \(String(cString: strerror(err.rawValue)))"
                    )
                }
                size = wanted
            } else if size != wanted {
                Glibc.close(fd)
                throw MapperError(.EINVAL, "backend file '\(file)' exists with \(size) bytes, not \(wanted)")
            }
        }
        guard size > 0, size % 512 == 0 else {
            Glibc.close(fd)
            throw MapperError(.EINVAL, "backend file '\(file)' has \(size) bytes, not a positive multiple of 512")
        }
        self.fd = fd
        self.size = Atomic(size >> 9)
        shardFDs = .allocate(capacity: shardFDCount)
        shardFDs[0] = fd
        for shard in 1..<max(shardFDCount, 1) {
            let reopened = open("/proc/self/fd/\(fd)", O_RDWR | O_CLOEXEC)
            shardFDs[shard] = reopened >= 0 ? reopened : fd
        }
        // A disk image's access time means nothing, and every read would check whether to
        // update it (`touch_atime`, a few percent of a 4 KiB page-cache read). Only the
        // file's owner may turn that off (EPERM otherwise): then reads keep the check.
        for shard in 0..<max(shardFDCount, 1) where shard == 0 || shardFDs[shard] != fd {
            _ = cmapper_set_noatime(shardFDs[shard])
        }
    }

    /// Grows the file to `bytes` (a multiple of 512): I/O may use the new sectors once this
    /// returns. Smaller than now is EINVAL (the file is never cut); equal changes nothing.
    /// `ftruncate` only sets the size (the new part is a hole), so it does not wait for the disk.
    public func grow(toBytes bytes: UInt64) throws {
        let current = sizeSectors
        guard bytes % 512 == 0, bytes > 0 else {
            throw MapperError(.EINVAL, "size \(bytes) is not a positive multiple of 512")
        }
        guard bytes >> 9 >= current else {
            throw MapperError(.EINVAL, "backend '\(name)' has \(current << 9) bytes: it can grow, not shrink")
        }
        guard bytes >> 9 > current else { return }
        guard ftruncate(fd, off_t(bytes)) == 0 else {
            let err = Errno.current
            throw MapperError(
                err == .ENOSPC ? .ENOSPC : .EINVAL,
                "cannot grow backend file '\(file)' to \(bytes) bytes: \(String(cString: strerror(err.rawValue)))")
        }
        size.store(bytes >> 9, ordering: .relaxed)
    }

    deinit {
        for shard in 0..<shardFDCount where shardFDs[shard] != fd { Glibc.close(shardFDs[shard]) }
        shardFDs.deallocate()
        Glibc.close(fd)
    }

    /// A path to a file backend uses the file itself (its faults are simulated on the path).
    public func makePathTransport(uri: String?) throws -> any PathTransport {
        guard uri == nil else {
            throw MapperError(.EINVAL, "backend '\(name)' is a file: a path to it takes no uri")
        }
        return self
    }

    public var transportInfo: TransportInfo { TransportInfo(kind: "file", uri: nil, connected: true) }

    public func connect() async throws {}

    public func close() {}

    public func submit(_ request: BlockRequest) {
        if request.op.mayBlock {
            BlockingIO.run { [self] in request.endIO(perform(request)) }
            return
        }
        request.endIO(perform(request))
    }

    /// Runs the clone's I/O at `sector` inline and completes it, without building a
    /// ``BlockRequest`` (the hot path of linear and multipath onto a file). The bio, which owns
    /// the buffer, is borrowed: the clone keeps it alive.
    public func submit(remapped clone: Clone, to sector: UInt64) {
        if clone.withBio({ $0.op.mayBlock }) {
            // The clone's storage, captured, keeps its bio alive until it ends.
            BlockingIO.run { [self] in
                clone.endIO(perform(op: clone.bio.op, sector: sector, sectors: clone.sectors, data: nil))
            }
            return
        }
        let error = clone.withBio { bio in
            perform(
                op: bio.op, sector: sector, sectors: clone.sectors,
                data: bio.buffer.map { $0.base + clone.bufferOffset })
        }
        clone.endIO(error)
    }

    /// `posix_fadvise(POSIX_FADV_DONTNEED)` over the range, clipped to the file: the kernel
    /// starts write-back of the dirty pages there and drops the clean ones. It drops whole
    /// folios only: a large one that reaches outside the range stays cached.
    public func dropCachedPages(sector: UInt64, sectors: UInt64) {
        let size = sizeSectors
        guard sector < size else { return }
        let count = min(sectors, size - sector)
        _ = posix_fadvise(fd, off_t(sector << 9), off_t(count << 9), POSIX_FADV_DONTNEED)
    }

    /// Runs the request synchronously and returns its error.
    public func perform(_ request: BlockRequest) -> Errno? {
        withExtendedLifetime(request.buffer) {
            let data = request.buffer.map { $0.base + request.bufferOffset }
            if request.dontCache, let data, request.op == .read || request.op == .write,
                let error = performUncached(
                    write: request.op == .write, sector: request.sector, sectors: request.sectors, data: data)
            {
                return error
            }
            return perform(op: request.op, sector: request.sector, sectors: request.sectors, data: data)
        }
    }

    /// Whether the file system refused `RWF_DONTCACHE` once (then no copy asks again).
    private let dontCacheRefused = Atomic<Bool>(false)
    /// Whether copies to this file have gone through the page cache as plain I/O since the
    /// file system refused `RWF_DONTCACHE` (tests).
    var dontCacheWasRefused: Bool { dontCacheRefused.load(ordering: .relaxed) }

    /// A copy's read or write with `RWF_DONTCACHE` (``BlockRequest/dontCache``): as
    /// ``perform(op:sector:sectors:data:)``, except that the folios it brings into the page
    /// cache are dropped once it is done (a read), or once written back (a write), so that a
    /// copy of a whole device neither evicts what the host had cached nor leaves folios as
    /// large as its pieces, into which every later 4 KiB write on ext4 costs a walk of the
    /// folio's blocks. Returns `nil` when the file system cannot (tmpfs; kernels before 6.14):
    /// the caller does the plain I/O then. Either way the data is the same: both go through
    /// the page cache, so foreground I/O to the same file sees the copy.
    private func performUncached(write: Bool, sector: UInt64, sectors: UInt64, data: UnsafeMutableRawPointer)
        -> Errno??
    {
        guard !dontCacheRefused.load(ordering: .relaxed) else { return nil }
        let end = sector &+ sectors
        guard end >= sector, end <= sizeSectors else { return .some(.EIO) }
        let fd = shardFDs[Int(truncatingIfNeeded: cmapper_current_cpu()) & shardMask]
        let offset = off_t(sector << 9)
        let count = Int(sectors) << 9
        // The first call tells whether the file system takes the flag.
        let first = cmapper_transfer_dontcache(fd, data, count, Int64(offset), write ? 1 : 0)
        if first < 0 {
            if errno == EOPNOTSUPP || errno == EINVAL {
                dontCacheRefused.store(true, ordering: .relaxed)
                return nil
            }
            if errno != EINTR { return .some(.EIO) }
        }
        let done = max(0, Int(first))
        return .some(
            transfer(data + done, count: count - done, offset: offset + off_t(done)) { pointer, n, at in
                Int(cmapper_transfer_dontcache(fd, pointer, n, Int64(at), write ? 1 : 0))
            })
    }

    /// The I/O on `data` (the request's bytes, `nil` for flush and discard), which the caller
    /// keeps alive.
    @inline(__always)
    private func perform(op: BioOp, sector: UInt64, sectors: UInt64, data: UnsafeMutableRawPointer?) -> Errno? {
        let end = sector &+ sectors
        guard end >= sector, end <= sizeSectors else { return .EIO }
        let offset = off_t(sector << 9)
        let fd = shardFDs[Int(truncatingIfNeeded: cmapper_current_cpu()) & shardMask]
        let byteCount = Int(sectors) << 9
        switch op {
        case .read:
            guard let data else { return .EINVAL }
            return transfer(data, count: byteCount, offset: offset) { pread(fd, $0, $1, $2) }
        case .write:
            guard let data else { return .EINVAL }
            return transfer(data, count: byteCount, offset: offset) { pwrite(fd, $0, $1, $2) }
        case .flush:
            return fsync(fd) == 0 ? nil : .EIO
        case .discard:
            // Discard is advisory: later reads see zeros, as on a thin device.
            return zeroRange(fd, offset: offset, count: byteCount)
        }
    }

    /// Punches a hole (`FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`), so the range reads as
    /// zeros and the file stays sparse; where the filesystem cannot, writes zeros.
    private func zeroRange(_ fd: Int32, offset: off_t, count: Int) -> Errno? {
        if cmapper_punch_hole(fd, Int64(offset), Int64(count)) == 0 { return nil }
        return writeZeros(fd, offset: offset, count: count)
    }

    private func writeZeros(_ fd: Int32, offset: off_t, count: Int) -> Errno? {
        let chunk = 1 << 20
        let zeros = UnsafeMutableRawPointer.allocate(byteCount: min(count, chunk), alignment: 4096)
        defer { zeros.deallocate() }
        zeros.initializeMemory(as: UInt8.self, repeating: 0, count: min(count, chunk))
        var done = 0
        while done < count {
            let n = min(chunk, count - done)
            if let error = transfer(zeros, count: n, offset: offset + off_t(done), { pwrite(fd, $0, $1, $2) }) {
                return error
            }
            done += n
        }
        return nil
    }

    @inline(__always)
    private func transfer(
        _ pointer: UnsafeMutableRawPointer, count: Int, offset: off_t,
        _ call: (UnsafeMutableRawPointer, Int, off_t) -> Int
    ) -> Errno? {
        var done = 0
        while done < count {
            let n = call(pointer + done, count - done, offset + off_t(done))
            if n > 0 {
                done += n
            } else if n == 0 {
                // Short read past the end of a file that shrank underneath us.
                (pointer + done).initializeMemory(as: UInt8.self, repeating: 0, count: count - done)
                return .EIO
            } else if errno != EINTR {
                return .EIO
            }
        }
        return nil
    }
}
