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
}
