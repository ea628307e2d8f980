/// How many bytes of held bios (see ``QueueAdmission``) one device, and the whole engine,
/// may hold before new bios are refused with `EAGAIN`.
public struct QueueLimits: Sendable, Equatable {
    /// Per device.
    public var deviceBytes: Int
    /// Over all devices of the engine.
    public var totalBytes: Int

    /// 1 GiB per device, 4 GiB in all.
    public static let defaults = QueueLimits(deviceBytes: 1 << 30, totalBytes: 4 << 30)
    /// No limit.
    public static let unlimited = QueueLimits(deviceBytes: .max / 2, totalBytes: .max / 2)

    public init(deviceBytes: Int, totalBytes: Int) {
        self.deviceBytes = deviceBytes
        self.totalBytes = totalBytes
    }
}
