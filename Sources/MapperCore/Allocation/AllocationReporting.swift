/// A block device that knows which of its sectors are allocated (SEEK_DATA/SEEK_HOLE on a
/// sparse file, or a mapped device asking its table).
///
/// The answer is advisory, as NBD's `base:allocation` is: a run reported as data may read as
/// zeros, but a run reported `zero` must read as zeros at the time of the call.
public protocol AllocationReporting: Sendable {
    /// The allocation of `sectors` sectors from `sector`, in order; the lengths add up to
    /// `sectors` (fewer when `limit` extents are reached, never more). `sector + sectors` is
    /// within the device.
    func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent]

    /// Whether all of `sectors` sectors from `sector` read as zeros now (a run reported
    /// `zero`). Default: from ``allocation(sector:sectors:limit:)``.
    func readsAsZeros(sector: UInt64, sectors: UInt64) -> Bool

    /// How many sectors from `sector` (at most `sectors`) read as zeros now: the length of the
    /// run reported `zero` there, 0 when its first sector may hold data. Default: from
    /// ``allocation(sector:sectors:limit:)``.
    func zeroRun(sector: UInt64, sectors: UInt64) -> UInt64
}

extension AllocationReporting {
    public func readsAsZeros(sector: UInt64, sectors: UInt64) -> Bool {
        let extents = allocation(sector: sector, sectors: sectors, limit: 2)
        return extents.count == 1 && extents[0].zero && extents[0].sectors == sectors
    }

    public func zeroRun(sector: UInt64, sectors: UInt64) -> UInt64 {
        guard let first = allocation(sector: sector, sectors: sectors, limit: 1).first, first.zero else { return 0 }
        return min(first.sectors, sectors)
    }
}
