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
    /// A bulk copy's read or write (a mirror's resync, as dm-kcopyd's), which nothing is
    /// likely to read again soon: a file backend that receives it directly does it without
    /// leaving its data in the page cache (``FileBackend``), where the file system can. Other
    /// receivers ignore it.
    public var dontCache = false
    /// Told the outcome exactly once, through ``endIO(_:)``.
    let completer: BlockCompleter

    /// A request whose outcome goes to `completion`.
    public init(
        op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, bufferOffset: Int,
        completion: any BlockIOCompletion
    ) {
        self.init(
            op: op, sector: sector, sectors: sectors, buffer: buffer, bufferOffset: bufferOffset,
            completer: .receiver(completion))
    }

    /// The remapped form of `clone`: its outcome runs the clone's target's `endIO`.
    init(op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, bufferOffset: Int, clone: Clone) {
        self.init(
            op: op, sector: sector, sectors: sectors, buffer: buffer, bufferOffset: bufferOffset,
            completer: .clone(clone))
    }

    init(
        op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, bufferOffset: Int,
        completer: BlockCompleter
    ) {
        self.op = op
        self.sector = sector
        self.sectors = sectors
        self.buffer = buffer
        self.bufferOffset = bufferOffset
        self.completer = completer
    }

    /// Reports the request's outcome to whoever sent it (`nil`: success). Call it exactly once.
    @inline(__always)
    public func endIO(_ error: Errno?) { completer.endIO(error) }

    /// Length in bytes.
    public var byteCount: Int { Int(sectors) << 9 }
}
