/// The writes that give a block of a thin device its first data block, or a copy of a shared
/// one (dm-thin's `schedule_zero` and `schedule_copy`): the whole new block is written in one
/// request, made of the clone's data and, around it, zeroes or the old block's data (read
/// first). A write covering the whole block is sent as it is; with `skip_block_zeroing`, or
/// when the data device reports the new block as reading zeroes already (a hole in a sparse
/// file, as a block is after its discard was passed down: ``AllocationReporting``), a partial
/// write to a new block writes its own sectors only: zeroing it again would write sixteen
/// times the data of a 4 KiB write to a 64 KiB block. The pool knows a run of such blocks
/// (``ThinZeroedBlocks``); outside it, the data device is asked once for the run of zero
/// blocks from the new one, which the pool learns. Then
/// ``ThinPool/provisioned(_:key:dataBlock:error:)`` maps the block.
final class ThinProvision: BlockIOCompletion, @unchecked Sendable {
    private let pool: ThinPool
    private let clone: Clone
    private let key: ThinPool.Key
    private let offset: UInt64
    private let to: UInt64
    private let from: UInt64?
    private let zeroing: Bool
    /// Whether the pool knows block `to` reads as zeroes, or the data device is to be asked.
    private let zeroes: ThinZeroedBlocks.Answer
    /// The data device's allocation, to tell a block that reads as zeros already.
    private let allocation: (any AllocationReporting)?
    /// The pool's data blocks.
    private let dataBlocks: UInt64
    private let device: any BlockDevice
    /// The whole block being assembled (`nil` when the clone's own buffer is written).
    private var block: IOBuffer?
    private var reading = false

    init(
        pool: ThinPool, clone: Clone, key: ThinPool.Key, offset: UInt64, to: UInt64, from: UInt64?, zeroing: Bool,
        zeroes: ThinZeroedBlocks.Answer, allocation: (any AllocationReporting)?, dataBlocks: UInt64,
        device: any BlockDevice
    ) {
        self.pool = pool
        self.clone = clone
        self.key = key
        self.offset = offset
        self.to = to
        self.from = from
        self.zeroing = zeroing
        self.zeroes = zeroes
        self.allocation = allocation
        self.dataBlocks = dataBlocks
        self.device = device
    }

    var issuingDevice: MappedDevice? { clone.device }

    private var blockSectors: UInt64 { pool.dataBlockSectors }

    func start() {
        if offset == 0 && clone.sectors == blockSectors {
            writeOwn(at: to * blockSectors)
        } else if let from {
            let buffer = IOBuffer.uninitialized(count: Int(blockSectors) << 9)
            block = buffer
            reading = true
            device.submit(
                BlockRequest(
                    op: .read, sector: from * blockSectors, sectors: blockSectors, buffer: buffer, bufferOffset: 0,
                    completion: self))
        } else if !zeroing || readsAsZeroes(to) {
            writeOwn(at: to * blockSectors + offset)
        } else {
            let buffer = IOBuffer(count: Int(blockSectors) << 9)
            block = buffer
            writeBlock(buffer)
        }
    }

    func endIO(_ error: Errno?) {
        if reading, error == nil, let block {
            reading = false
            writeBlock(block)
            return
        }
        pool.provisioned(clone, key: key, dataBlock: to, error: error)
    }

    /// Whether data block `block` (the new one) reads as zeroes: as the pool knows, or else as
    /// the data device reports the run of zero blocks from it, which the pool then learns.
    private func readsAsZeroes(_ block: UInt64) -> Bool {
        guard case .ask(let generation) = zeroes else { return true }
        guard let allocation, block < dataBlocks else { return false }
        let run = allocation.zeroRun(sector: block * blockSectors, sectors: (dataBlocks - block) * blockSectors)
        let zeroBlocks = min(run / blockSectors, dataBlocks - block)
        guard zeroBlocks > 0 else { return false }
        pool.learnedZeroes(block: block, zeroBlocks: zeroBlocks, generation: generation)
        return true
    }

    /// Writes the clone's own data at `sector` of the data device.
    private func writeOwn(at sector: UInt64) {
        device.submit(
            BlockRequest(
                op: .write, sector: sector, sectors: clone.sectors, buffer: clone.bio.buffer,
                bufferOffset: clone.bufferOffset, completion: self))
    }

    /// Copies the clone's data into `buffer` at its offset and writes the whole block.
    private func writeBlock(_ buffer: IOBuffer) {
        if let source = clone.bio.buffer {
            buffer.pointer(at: Int(offset) << 9).copyMemory(
                from: source.pointer(at: clone.bufferOffset), byteCount: Int(clone.sectors) << 9)
        }
        device.submit(
            BlockRequest(
                op: .write, sector: to * blockSectors, sectors: blockSectors, buffer: buffer, bufferOffset: 0,
                completion: self))
    }
}
