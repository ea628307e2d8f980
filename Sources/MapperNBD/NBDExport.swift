/// What the handshake tells a client about one export (`NBD_INFO_EXPORT`, `NBD_INFO_NAME`,
/// `NBD_INFO_DESCRIPTION`, and the `NBD_REP_SERVER` entries of `NBD_OPT_LIST`).
public struct NBDExport: Sendable, Equatable {
    /// The canonical name (the device's name).
    public var name: String
    public var description: String
    public var sizeBytes: UInt64
    public var readOnly: Bool

    public init(name: String, description: String, sizeBytes: UInt64, readOnly: Bool) {
        self.name = name
        self.description = description
        self.sizeBytes = sizeBytes
        self.readOnly = readOnly
    }

    /// The transmission flags this server sends for the export. Every connection is served
    /// by the one engine, so a flush on any connection covers writes answered on all of them
    /// (`CAN_MULTI_CONN`). `FAST_ZERO` is advertised so that clients ask, and is always
    /// answered `ENOTSUP` (zeroing costs a write here). A read-only export advertises no
    /// write commands.
    public var transmissionFlags: UInt16 {
        var flags = NBD.flagHasFlags | NBD.flagSendFlush | NBD.flagCanMultiConn | NBD.flagSendCache
        if readOnly {
            flags |= NBD.flagReadOnly
        } else {
            flags |= NBD.flagSendFUA | NBD.flagSendTrim | NBD.flagSendWriteZeroes | NBD.flagSendFastZero
        }
        return flags
    }
}

/// The exports a server offers, looked up at handshake time.
public protocol NBDExportCatalog: Sendable {
    /// The export a client names; `""` means the default export, if there is one.
    func export(named name: String) -> NBDExport?
    /// Every export, for `NBD_OPT_LIST`.
    func exports() -> [NBDExport]
}
