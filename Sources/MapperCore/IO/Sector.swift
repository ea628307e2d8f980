/// Sector arithmetic. A sector is 512 bytes at every interface of the engine.
public enum Sector {
    /// Bytes per sector.
    public static let size = 512
    /// log2 of ``size``.
    public static let shift: UInt64 = 9

    /// `bytes / 512` when `bytes` is a non-negative multiple of 512, else `nil`.
    public static func fromBytes<T: BinaryInteger>(_ bytes: T) -> UInt64? {
        guard bytes >= 0, bytes % 512 == 0 else { return nil }
        return UInt64(bytes) >> shift
    }
}
