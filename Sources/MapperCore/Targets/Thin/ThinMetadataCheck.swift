import Foundation

/// `mapperd thin-check` (dm's `thin_check`): reads a thin pool's metadata device offline and
/// verifies it with ``ThinMetadataLoader``'s checks, the strict ones included (a data block
/// mapped at two blocks, or shared by devices no snapshot relates).
public struct ThinMetadataCheck: Sendable {
    /// What a valid metadata device holds.
    public struct Report: Sendable, Equatable {
        public var generation: UInt64
        public var transactionID: UInt64
        public var devices: Int
        public var metadataBlocksUsed: Int
        public var metadataBlocks: Int
        public var dataBlocksUsed: Int
        public var dataBlocks: Int
        public var dataBlockSectors: UInt64
        public var mappedBlocks: UInt64
        public var heldRoot: UInt64?

        /// One line per fact, for people and scripts.
        public var text: String {
            """
            generation \(generation)
            transaction id \(transactionID)
            thin devices \(devices)
            mapped blocks \(mappedBlocks)
            metadata blocks \(metadataBlocksUsed)/\(metadataBlocks)
            data blocks \(dataBlocksUsed)/\(dataBlocks) of \(dataBlockSectors) sectors
            held root \(heldRoot.map(String.init) ?? "-")

            """
        }
    }

    /// Checks the metadata in `file` (a metadata device's image); throws
    /// ``MapperError`` (EIO) with the first inconsistency found.
    public static func check(file: URL) throws -> Report {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        let blocks = Int(min(size / UInt64(ThinMetadataFormat.blockBytes), 4 << 20))
        guard blocks >= 2 else { throw MapperError(.EINVAL, "'\(file.path)' is smaller than two metadata blocks") }
        return try check(metadataBlocks: blocks) { number in
            try handle.seek(toOffset: number * UInt64(ThinMetadataFormat.blockBytes))
            return Array(try handle.read(upToCount: ThinMetadataFormat.blockBytes) ?? Data())
        }
    }

    /// Checks metadata of `metadataBlocks` blocks read by `read`.
    static func check(metadataBlocks: Int, read: (UInt64) throws -> [UInt8]) throws -> Report {
        var loader = ThinMetadataLoader(
            metadataBlocks: metadataBlocks, dataBlocks: nil, dataBlockSectors: nil, checking: true)
        var step = loader.start()
        while true {
            switch step {
            case .read(let numbers):
                var blocks: [UInt64: [UInt8]] = [:]
                for number in numbers { blocks[number] = try read(number) }
                step = loader.received(blocks)
            case .failed(let reason):
                throw MapperError(.EIO, reason)
            case .loaded(let metadata):
                return Report(
                    generation: metadata.generation, transactionID: metadata.transactionID,
                    devices: metadata.devices.count, metadataBlocksUsed: metadata.meta.used,
                    metadataBlocks: metadata.meta.count, dataBlocksUsed: metadata.data.used,
                    dataBlocks: metadata.data.count, dataBlockSectors: metadata.dataBlockSectors,
                    mappedBlocks: metadata.devices.values.reduce(0) { $0 + $1.mappedBlocks },
                    heldRoot: metadata.heldRoot)
            }
        }
    }
}
