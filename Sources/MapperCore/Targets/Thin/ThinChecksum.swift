import CMapperSys

/// CRC-32C (Castagnoli), the checksum dm's persistent-data puts in every metadata block, over
/// a block's bytes after its checksum field: `ThinChecksum.crc32c("123456789")` is
/// `0xE3069283`. The byte loop is C's (``cmapper_crc32c``): every block a pool opens or commits
/// goes through it, and Swift's checked loop is many times slower where tests run unoptimised.
enum ThinChecksum {
    static func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return cmapper_crc32c(base, bytes.count)
    }

    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32c($0) }
    }
}
