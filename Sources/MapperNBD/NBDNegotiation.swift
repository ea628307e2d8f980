import NIOCore

/// The server side of fixed-newstyle negotiation as a pure state machine: it takes the
/// client's flags and options, writes the replies into a buffer and says what the
/// connection must do next. No I/O, no engine; tested directly.
///
/// Choices, checked against `doc/proto.md` and nbdkit's `server/protocol-handshake-newstyle.c`:
/// - Client flags other than `FIXED_NEWSTYLE` and `NO_ZEROES` end the connection; a client
///   without `FIXED_NEWSTYLE` may only send `EXPORT_NAME`.
/// - At most ``maximumOptions`` options (plus that many per export after a `LIST`, as nbdkit
///   allows `INFO` on each listed export); more end the connection.
/// - Unknown options get `NBD_REP_ERR_UNSUP` (their data was consumed by the decoder);
///   malformed ones `NBD_REP_ERR_INVALID`; over-long ones `NBD_REP_ERR_TOO_BIG`.
/// - `INFO`/`GO` always send `NBD_INFO_EXPORT`, `NAME` and `DESCRIPTION`, and `BLOCK_SIZE`
///   (512 / 4096 / 32 MiB) when the client requested it, as nbdkit does. A `GO` that requested
///   it binds the client to those sizes (``blockSizeAgreed``); a client that did not (or used
///   `EXPORT_NAME`) has the spec's default minimum block size of 1, which the connection
///   honours by read-modify-write (see ``NBDRequestCheck``).
/// - Meta contexts need structured replies first (`NBD_REP_ERR_INVALID` otherwise); the only
///   context is `base:allocation`, id ``baseAllocationID``. `SET_META_CONTEXT` selects it only
///   when queried by that exact name: the bare namespace `base:` is ignored there, as the
///   spec says it MUST be; in `LIST_META_CONTEXT`, `base:` is the wildcard for every `base:`
///   context and no query at all lists every context. A `GO` for another export than the one
///   `SET_META_CONTEXT` named drops the selection.
/// - With TLS required and not yet started, everything but `STARTTLS` and `ABORT` answers
///   `NBD_REP_ERR_TLS_REQD` (`EXPORT_NAME` ends the connection): FORCEDTLS mode.
public struct NBDNegotiation: Sendable {
    /// What the connection does after a message.
    public enum Action: Equatable, Sendable {
        /// Send the replies and read the next option.
        case proceed
        /// Send the replies and enter transmission for `export`.
        case transmit(NBDExport)
        /// Send the replies (an ACK) and start TLS before the next option.
        case startTLS
        /// Send the replies, then close.
        case close(reason: String)
    }

    public static let maximumOptions = 32
    public static let baseAllocationID: UInt32 = 1

    private let catalog: any NBDExportCatalog
    /// TLS must be negotiated before any export (FORCEDTLS).
    public let tlsRequired: Bool
    /// Whether STARTTLS is possible at all (a key is configured).
    public let tlsAvailable: Bool
    public private(set) var tlsActive = false
    public private(set) var fixedNewstyle = false
    public private(set) var noZeroes = false
    public private(set) var structuredReplies = false
    /// The export `SET_META_CONTEXT` named, and whether it selected `base:allocation`.
    public private(set) var metaContextExport: String?
    public private(set) var baseAllocation = false
    /// Whether the `GO` that entered transmission requested `NBD_INFO_BLOCK_SIZE`: the client
    /// then must (and is made to) send only 512-byte aligned requests.
    public private(set) var blockSizeAgreed = false
    private var optionsLeft = maximumOptions

    public init(catalog: any NBDExportCatalog, tlsRequired: Bool = false, tlsAvailable: Bool = false) {
        self.catalog = catalog
        self.tlsRequired = tlsRequired
        self.tlsAvailable = tlsAvailable
    }

    /// The server's greeting: `NBDMAGIC`, `IHAVEOPT`, handshake flags.
    public static func greeting(into out: inout ByteBuffer) {
        out.writeInteger(NBD.initMagic)
        out.writeInteger(NBD.optionMagic)
        out.writeInteger(NBD.flagFixedNewstyle | NBD.flagNoZeroes)
    }

    /// The client's flags.
    public mutating func clientFlags(_ flags: UInt32) -> Action {
        let known = NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes
        guard flags & ~known == 0 else {
            return .close(reason: "unknown client flags 0x\(String(flags, radix: 16))")
        }
        fixedNewstyle = flags & NBD.clientFlagFixedNewstyle != 0
        noZeroes = flags & NBD.clientFlagNoZeroes != 0
        return .proceed
    }

    /// TLS was started after the `STARTTLS` ACK.
    public mutating func tlsStarted() { tlsActive = true }

    /// An option whose data the decoder discarded as too long.
    public mutating func optionTooLong(_ code: UInt32, length: UInt32, into out: inout ByteBuffer) -> Action {
        if let stop = countOption() { return stop }
        if code == NBD.optExportName { return .close(reason: "export name of \(length) bytes") }
        NBDOptionReply.error(code, NBD.repErrTooBig, "option data of \(length) bytes is too long", into: &out)
        return .proceed
    }

    /// One option.
    public mutating func option(_ code: UInt32, data: ByteBuffer, into out: inout ByteBuffer) -> Action {
        if let stop = countOption() { return stop }
        guard fixedNewstyle || code == NBD.optExportName else {
            return .close(reason: "option \(code) from a client without fixed newstyle")
        }
        if tlsRequired && !tlsActive && code != NBD.optStartTLS && code != NBD.optAbort {
            if code == NBD.optExportName { return .close(reason: "EXPORT_NAME before STARTTLS") }
            NBDOptionReply.error(code, NBD.repErrTLSReqd, "TLS is required: send NBD_OPT_STARTTLS first", into: &out)
            return .proceed
        }
        var data = data
        switch code {
        case NBD.optExportName:
            return exportName(data: data, into: &out)
        case NBD.optAbort:
            NBDOptionReply.write(code, NBD.repAck, into: &out)
            return .close(reason: "client aborted")
        case NBD.optList:
            return list(data: data, into: &out)
        case NBD.optStartTLS:
            return startTLS(data: data, into: &out)
        case NBD.optInfo, NBD.optGo:
            return infoOrGo(code, data: &data, into: &out)
        case NBD.optStructuredReply:
            guard data.readableBytes == 0 else { return invalid(code, "STRUCTURED_REPLY takes no data", &out) }
            guard !structuredReplies else { return invalid(code, "structured replies are already on", &out) }
            structuredReplies = true
            NBDOptionReply.write(code, NBD.repAck, into: &out)
            return .proceed
        case NBD.optListMetaContext, NBD.optSetMetaContext:
            return metaContext(code, data: &data, into: &out)
        default:
            NBDOptionReply.error(code, NBD.repErrUnsup, "option \(code) is not supported", into: &out)
            return .proceed
        }
    }

    private mutating func countOption() -> Action? {
        optionsLeft -= 1
        return optionsLeft < 0 ? .close(reason: "too many options") : nil
    }

    private func invalid(_ code: UInt32, _ message: String, _ out: inout ByteBuffer) -> Action {
        NBDOptionReply.error(code, NBD.repErrInvalid, message, into: &out)
        return .proceed
    }

    private mutating func exportName(data: ByteBuffer, into out: inout ByteBuffer) -> Action {
        guard let name = data.getString(at: data.readerIndex, length: data.readableBytes),
            let export = catalog.export(named: name)
        else { return .close(reason: "unknown export") }
        out.writeInteger(export.sizeBytes)
        out.writeInteger(export.transmissionFlags)
        if !noZeroes { out.writeRepeatingByte(0, count: 124) }
        blockSizeAgreed = false
        resetMetaContext(unless: export.name)
        return .transmit(export)
    }

    private mutating func list(data: ByteBuffer, into out: inout ByteBuffer) -> Action {
        guard data.readableBytes == 0 else { return invalid(NBD.optList, "LIST takes no data", &out) }
        let exports = catalog.exports()
        optionsLeft += Self.maximumOptions * exports.count
        var entry = ByteBuffer()
        for export in exports {
            entry.clear()
            entry.writeInteger(UInt32(export.name.utf8.count))
            entry.writeString(export.name)
            entry.writeString(String(export.description.prefix(NBD.maximumString)))
            NBDOptionReply.write(NBD.optList, NBD.repServer, data: entry, into: &out)
        }
        NBDOptionReply.write(NBD.optList, NBD.repAck, into: &out)
        return .proceed
    }

    private mutating func startTLS(data: ByteBuffer, into out: inout ByteBuffer) -> Action {
        guard tlsAvailable else {
            NBDOptionReply.error(NBD.optStartTLS, NBD.repErrUnsup, "TLS is not configured", into: &out)
            return .proceed
        }
        guard data.readableBytes == 0 else { return invalid(NBD.optStartTLS, "STARTTLS takes no data", &out) }
        guard !tlsActive else { return invalid(NBD.optStartTLS, "TLS is already active", &out) }
        NBDOptionReply.write(NBD.optStartTLS, NBD.repAck, into: &out)
        return .startTLS
    }

    private mutating func infoOrGo(_ code: UInt32, data: inout ByteBuffer, into out: inout ByteBuffer) -> Action {
        guard let nameLength = data.readInteger(as: UInt32.self), nameLength <= NBD.maximumString,
            let name = data.readString(length: Int(nameLength)),
            let requests = data.readInteger(as: UInt16.self),
            data.readableBytes == Int(requests) * 2
        else { return invalid(code, "malformed \(code == NBD.optGo ? "GO" : "INFO") option", &out) }
        guard let export = catalog.export(named: name) else {
            NBDOptionReply.error(
                code, NBD.repErrUnknown, name.isEmpty ? "no default export" : "no export named '\(name)'",
                into: &out)
            return .proceed
        }
        var infos: [UInt16] = []
        for _ in 0..<requests { infos.append(data.readInteger(as: UInt16.self) ?? 0) }
        let blockSize = infos.contains(NBD.infoBlockSize)
        NBDOptionReply.info(code, export, blockSize: blockSize, into: &out)
        NBDOptionReply.write(code, NBD.repAck, into: &out)
        guard code == NBD.optGo else { return .proceed }
        blockSizeAgreed = blockSize
        resetMetaContext(unless: export.name)
        return .transmit(export)
    }

    private mutating func resetMetaContext(unless name: String) {
        if let chosen = metaContextExport, catalog.export(named: chosen)?.name != name {
            baseAllocation = false
            metaContextExport = nil
        }
    }

    private mutating func metaContext(_ code: UInt32, data: inout ByteBuffer, into out: inout ByteBuffer) -> Action {
        let isSet = code == NBD.optSetMetaContext
        guard structuredReplies else {
            return invalid(code, "meta contexts need NBD_OPT_STRUCTURED_REPLY first", &out)
        }
        guard let nameLength = data.readInteger(as: UInt32.self), nameLength <= NBD.maximumString,
            let name = data.readString(length: Int(nameLength)),
            let count = data.readInteger(as: UInt32.self)
        else { return invalid(code, "malformed meta context option", &out) }
        var queries: [String] = []
        for _ in 0..<count {
            guard let length = data.readInteger(as: UInt32.self), length <= NBD.maximumString,
                let query = data.readString(length: Int(length))
            else { return invalid(code, "malformed meta context query", &out) }
            queries.append(query)
        }
        guard data.readableBytes == 0 else { return invalid(code, "trailing data in meta context option", &out) }
        guard catalog.export(named: name) != nil else {
            NBDOptionReply.error(code, NBD.repErrUnknown, "no export named '\(name)'", into: &out)
            return .proceed
        }
        let matches = Self.selectsBaseAllocation(queries, list: !isSet)
        if isSet {
            metaContextExport = name
            baseAllocation = matches
        }
        if matches {
            var reply = ByteBuffer()
            reply.writeInteger(isSet ? Self.baseAllocationID : 0)
            reply.writeString(NBD.metaContextBaseAllocation)
            NBDOptionReply.write(code, NBD.repMetaContext, data: reply, into: &out)
        }
        NBDOptionReply.write(code, NBD.repAck, into: &out)
        return .proceed
    }

    /// Whether `queries` name `base:allocation`: by its name, or (in a `LIST` only) by the
    /// `base:` wildcard or by sending no query at all. In a `SET`, no query selects nothing
    /// and `base:` is ignored. Unknown namespaces and leaf names are ignored.
    static func selectsBaseAllocation(_ queries: [String], list: Bool) -> Bool {
        if queries.isEmpty { return list }
        return queries.contains { $0 == NBD.metaContextBaseAllocation || (list && $0 == "base:") }
    }
}
