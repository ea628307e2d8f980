/// One run of sectors with the same allocation state, as NBD's `base:allocation` context
/// reports it (`NBD_STATE_HOLE`, `NBD_STATE_ZERO`).
public struct AllocationExtent: Sendable, Equatable {
    /// Length in sectors (> 0).
    public var sectors: UInt64
    /// No storage is allocated for the run (a hole in a sparse file, the `zero` target).
    public var hole: Bool
    /// The run reads as zeros.
    public var zero: Bool

    public init(sectors: UInt64, hole: Bool, zero: Bool) {
        self.sectors = sectors
        self.hole = hole
        self.zero = zero
    }

    /// Allocated data (the answer whenever nothing better is known).
    public static func data(_ sectors: UInt64) -> AllocationExtent {
        AllocationExtent(sectors: sectors, hole: false, zero: false)
    }

    /// Unallocated and reading as zeros.
    public static func hole(_ sectors: UInt64) -> AllocationExtent {
        AllocationExtent(sectors: sectors, hole: true, zero: true)
    }
}

extension Array where Element == AllocationExtent {
    /// Appends `extent`, merging it into the last one when their states match.
    mutating func appendMerging(_ extent: AllocationExtent) {
        guard extent.sectors > 0 else { return }
        if let last = self.last, last.hole == extent.hole, last.zero == extent.zero {
            self[count - 1].sectors += extent.sectors
        } else {
            append(extent)
        }
    }
}
