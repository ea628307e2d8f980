/// One I/O addressed to a ``BlockDevice``: the remapped form of a clone.
public struct BlockRequest: Sendable {
    public var op: BioOp
    /// First sector, in the receiving device's own address space.
    public var sector: UInt64
    /// Length in sectors (0 for a flush).
    public var sectors: UInt64
    /// The payload (writes) or destination (reads); `nil` for flush and discard.
    public var buffer: IOBuffer?
    /// Byte offset of this request's data inside ``buffer``.
    public var bufferOffset: Int
    /// Told the outcome exactly once.
    public var completion: any BlockIOCompletion

    public init(
        op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, bufferOffset: Int,
        completion: any BlockIOCompletion
    ) {
        self.op = op
        self.sector = sector
        self.sectors = sectors
        self.buffer = buffer
        self.bufferOffset = bufferOffset
        self.completion = completion
    }

    /// Length in bytes.
    public var byteCount: Int { Int(sectors) << 9 }
}
