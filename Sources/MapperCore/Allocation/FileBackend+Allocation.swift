import CMapperSys

#if canImport(Glibc)
    import Glibc
#endif

extension FileBackend: AllocationReporting {
    /// Walks the file's data and holes with `lseek(SEEK_DATA/SEEK_HOLE)`. Filesystems that do
    /// not track holes report everything as data, which is always correct.
    public func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent] {
        var extents: [AllocationExtent] = []
        let end = off_t((sector + sectors) << 9)
        var offset = off_t(sector << 9)
        while offset < end && extents.count < limit {
            let data = off_t(cmapper_seek_data(fd, Int64(offset)))
            if data < 0 {
                // ENXIO: no data after offset, the rest is a hole. Anything else: unknown.
                if errno == ENXIO {
                    extents.appendMerging(.hole(UInt64(end - offset) >> 9))
                } else {
                    extents.appendMerging(.data(UInt64(end - offset) >> 9))
                }
                return extents
            }
            if data > offset {
                let holeEnd = min(data, end)
                extents.appendMerging(.hole(Self.sectorsDown(holeEnd - offset)))
                offset = offset + off_t(Self.sectorsDown(holeEnd - offset) << 9)
                if data >= end { break }
                continue
            }
            var hole = off_t(cmapper_seek_hole(fd, Int64(offset)))
            if hole < 0 { hole = end }
            // Holes are reported in filesystem blocks; round the data run up to whole sectors.
            let dataEnd = min(max(hole, offset + 512), end)
            let run = (UInt64(dataEnd - offset) + 511) >> 9
            extents.appendMerging(.data(run))
            offset += off_t(run << 9)
        }
        return extents
    }

    /// One `lseek(SEEK_DATA)`: the range is a hole when the file's next data starts at its end
    /// or later (or there is none).
    public func readsAsZeros(sector: UInt64, sectors: UInt64) -> Bool {
        let end = Int64((sector + sectors) << 9)
        let data = cmapper_seek_data(fd, Int64(sector << 9))
        if data < 0 { return errno == ENXIO }
        return data >= end
    }

    /// One `lseek(SEEK_DATA)`, as ``readsAsZeros(sector:sectors:)``: the hole runs up to the
    /// file's next data. (``allocation(sector:sectors:limit:)`` would also look for the end of
    /// data that starts at `sector`, and `SEEK_HOLE` walks the whole run of data on some file
    /// systems, tmpfs among them: a thin pool asks this before each first write.)
    public func zeroRun(sector: UInt64, sectors: UInt64) -> UInt64 {
        let start = Int64(sector << 9)
        let data = cmapper_seek_data(fd, start)
        if data < 0 { return errno == ENXIO ? sectors : 0 }
        return min(UInt64(data - start) >> 9, sectors)
    }

    private static func sectorsDown(_ bytes: off_t) -> UInt64 {
        max(1, UInt64(bytes) >> 9)
    }
}

extension Path: AllocationReporting {
    /// A path reaches its backend's sectors unchanged; a backend that cannot tell (a remote
    /// export) reports everything as data, which is always correct.
    public func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent] {
        (backend as? any AllocationReporting)?.allocation(sector: sector, sectors: sectors, limit: limit)
            ?? [.data(sectors)]
    }
}
