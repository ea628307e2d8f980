/// The operation a bio carries.
public enum BioOp: String, Sendable, CaseIterable {
    /// Read `sectors` sectors into the bio's buffer.
    case read
    /// Write the bio's buffer to `sectors` sectors.
    case write
    /// Make earlier completed writes durable. Carries no data and no sector range; the core
    /// sends one empty clone to every target of the table (as dm does).
    case flush
    /// Tell the device the range is unused. File backends punch a hole; targets without
    /// discard support complete it successfully without doing anything.
    case discard

    /// Whether the op changes the device (refused with EROFS on a read-only device).
    public var isWrite: Bool { self == .write || self == .discard }

    /// Whether a file backend's call for it may wait for the disk (`fsync`, `fallocate`), so
    /// it runs off the submitting thread (``BlockingIO``).
    var mayBlock: Bool { self == .flush || self == .discard }
}
