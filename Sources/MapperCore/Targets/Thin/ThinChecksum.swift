/// CRC-32C (Castagnoli), the checksum dm's persistent-data puts in every metadata block, over
/// a block's bytes after its checksum field. Table-driven, reflected, initial value and final
/// xor `0xFFFFFFFF`: `ThinChecksum.crc32c("123456789")` is `0xE3069283`.
enum ThinChecksum {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    static func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32c($0) }
    }
}
