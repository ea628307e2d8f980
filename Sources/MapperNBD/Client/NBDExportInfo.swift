/// What `NBD_OPT_GO` told about an export.
public struct NBDExportInfo: Sendable, Equatable {
    public var sizeBytes: UInt64
    /// The transmission flags (``NBD/flagSendFlush``, ``NBD/flagSendTrim``, ...).
    public var flags: UInt16
    /// Whether structured replies were negotiated.
    public var structuredReplies: Bool

    public func has(_ flag: UInt16) -> Bool { flags & flag != 0 }
}
