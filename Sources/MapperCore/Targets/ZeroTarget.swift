/// `zero`: reads return zeros, writes and flushes succeed and are dropped (dm-zero).
public final class ZeroTarget: Target {
    public static let type = TargetType(name: "zero", version: (1, 1, 0)) { context in
        try ArgReader(context.args).finish()
        return ZeroTarget()
    }

    public func map(_ clone: Clone) -> MapResult {
        if clone.op == .read, let buffer = clone.bio.buffer {
            buffer.zero(offset: clone.bufferOffset, length: Int(clone.sectors) << 9)
        }
        return .completed
    }

    public func table() -> String { "" }

    /// Nothing is stored: one hole that reads as zeros.
    public func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent]? {
        [.hole(sectors)]
    }
}
