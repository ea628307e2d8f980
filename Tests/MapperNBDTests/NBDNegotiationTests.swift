import NIOCore
import Testing

@testable import MapperNBD

/// The handshake state machine, without a channel: each option variant and its replies.
@Suite("NBD negotiation")
struct NBDNegotiationTests {
    private func negotiated(_ flags: UInt32 = NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes) -> NBDNegotiation {
        var negotiation = NBDNegotiation(catalog: FixedCatalog())
        #expect(negotiation.clientFlags(flags) == .proceed)
        return negotiation
    }

    private func send(
        _ negotiation: inout NBDNegotiation, _ code: UInt32, _ data: ByteBuffer = ByteBuffer()
    ) -> (NBDNegotiation.Action, [NBDWire.OptionReply], ByteBuffer) {
        var out = ByteBuffer()
        let action = negotiation.option(code, data: data, into: &out)
        let raw = out
        return (action, NBDWire.optionReplies(&out), raw)
    }

    @Test("the greeting is NBDMAGIC, IHAVEOPT, FIXED_NEWSTYLE|NO_ZEROES")
    func greeting() {
        var out = ByteBuffer()
        NBDNegotiation.greeting(into: &out)
        #expect(out.readInteger(as: UInt64.self) == NBD.initMagic)
        #expect(out.readInteger(as: UInt64.self) == NBD.optionMagic)
        #expect(out.readInteger(as: UInt16.self) == 3)
        #expect(out.readableBytes == 0)
    }

    @Test("unknown client flags end the connection")
    func unknownClientFlags() {
        var negotiation = NBDNegotiation(catalog: FixedCatalog())
        guard case .close = negotiation.clientFlags(0x8000_0001) else {
            Issue.record("expected close")
            return
        }
    }

    @Test("EXPORT_NAME answers size and flags, with 124 zero bytes unless NO_ZEROES", arguments: [false, true])
    func exportName(noZeroes: Bool) {
        var negotiation = negotiated(NBD.clientFlagFixedNewstyle | (noZeroes ? NBD.clientFlagNoZeroes : 0))
        var name = ByteBuffer()
        name.writeString("disk")
        let (action, _, raw) = send(&negotiation, NBD.optExportName, name)
        #expect(action == .transmit(FixedCatalog().entries[0]))
        var reply = raw
        #expect(reply.readInteger(as: UInt64.self) == 1 << 20)
        #expect(reply.readInteger(as: UInt16.self) == FixedCatalog().entries[0].transmissionFlags)
        #expect(reply.readableBytes == (noZeroes ? 0 : 124))
    }

    @Test("EXPORT_NAME of an unknown export closes; a client without fixed newstyle may send only it")
    func exportNameUnknownAndOldClients() {
        var negotiation = negotiated()
        var name = ByteBuffer()
        name.writeString("nosuch")
        guard case .close = send(&negotiation, NBD.optExportName, name).0 else {
            Issue.record("expected close")
            return
        }
        var old = negotiated(0)
        guard case .close = send(&old, NBD.optList).0 else {
            Issue.record("expected close for LIST without fixed newstyle")
            return
        }
    }

    @Test("GO sends EXPORT, NAME, DESCRIPTION and BLOCK_SIZE, then ACK, and enters transmission")
    func go() {
        var negotiation = negotiated()
        let (action, replies, _) = send(&negotiation, NBD.optGo, NBDWire.infoData("disk", requests: [NBD.infoBlockSize]))
        #expect(action == .transmit(FixedCatalog().entries[0]))
        #expect(replies.map(\.type) == [NBD.repInfo, NBD.repInfo, NBD.repInfo, NBD.repInfo, NBD.repAck])
        var export = replies[0].data
        #expect(export.readInteger(as: UInt16.self) == NBD.infoExport)
        #expect(export.readInteger(as: UInt64.self) == 1 << 20)
        var name = replies[1].data
        #expect(name.readInteger(as: UInt16.self) == NBD.infoName)
        #expect(name.readString(length: name.readableBytes) == "disk")
        var blocks = replies[3].data
        #expect(blocks.readInteger(as: UInt16.self) == NBD.infoBlockSize)
        #expect(
            [blocks.readInteger(as: UInt32.self), blocks.readInteger(as: UInt32.self), blocks.readInteger(as: UInt32.self)]
                == [512, 4096, 32 << 20])
    }

    @Test("BLOCK_SIZE is sent only when requested; only a GO that requested it binds the client")
    func blockSizeAgreement() {
        var negotiation = negotiated()
        let (_, plain, _) = send(&negotiation, NBD.optInfo, NBDWire.infoData("disk"))
        #expect(plain.map(\.type) == [NBD.repInfo, NBD.repInfo, NBD.repInfo, NBD.repAck])
        let (_, asked, _) = send(&negotiation, NBD.optInfo, NBDWire.infoData("disk", requests: [NBD.infoBlockSize]))
        #expect(asked.count == 5)
        #expect(!negotiation.blockSizeAgreed)
        let (action, _, _) = send(&negotiation, NBD.optGo, NBDWire.infoData("disk"))
        #expect(action == .transmit(FixedCatalog().entries[0]))
        #expect(!negotiation.blockSizeAgreed)

        var bound = negotiated()
        _ = send(&bound, NBD.optGo, NBDWire.infoData("disk", requests: [NBD.infoName, NBD.infoBlockSize]))
        #expect(bound.blockSizeAgreed)
    }

    struct MetaCase: Sendable, CustomTestStringConvertible {
        var queries: [String]
        var list: Bool
        var selects: Bool
        var testDescription: String { "\(list ? "LIST" : "SET") \(queries)" }
    }

    static let metaCases: [MetaCase] = [
        MetaCase(queries: [], list: true, selects: true),
        MetaCase(queries: [], list: false, selects: false),
        MetaCase(queries: ["base:"], list: true, selects: true),
        MetaCase(queries: ["base:"], list: false, selects: false),
        MetaCase(queries: ["base:allocation"], list: true, selects: true),
        MetaCase(queries: ["base:allocation"], list: false, selects: true),
        MetaCase(queries: ["base:nosuch"], list: false, selects: false),
        MetaCase(queries: ["base:nosuch"], list: true, selects: false),
        MetaCase(queries: ["qemu:dirty-bitmap:x", "base:allocation"], list: false, selects: true),
        MetaCase(queries: ["x-foo:", "base:"], list: false, selects: false),
        MetaCase(queries: ["base"], list: true, selects: false),
    ]

    @Test("meta context queries: base: is a LIST wildcard and ignored by SET", arguments: metaCases)
    func metaQueries(_ row: MetaCase) {
        #expect(NBDNegotiation.selectsBaseAllocation(row.queries, list: row.list) == row.selects)
        var negotiation = negotiated()
        _ = send(&negotiation, NBD.optStructuredReply)
        let code = row.list ? NBD.optListMetaContext : NBD.optSetMetaContext
        let replies = send(&negotiation, code, NBDWire.metaData("disk", queries: row.queries)).1
        #expect(replies.map(\.type) == (row.selects ? [NBD.repMetaContext, NBD.repAck] : [NBD.repAck]))
        if !row.list { #expect(negotiation.baseAllocation == row.selects) }
    }

    @Test("INFO answers like GO but stays in the handshake; unknown exports get ERR_UNKNOWN")
    func info() {
        var negotiation = negotiated()
        let (action, replies, _) = send(&negotiation, NBD.optInfo, NBDWire.infoData("ro"))
        #expect(action == .proceed)
        #expect(replies.last?.type == NBD.repAck)
        let (again, unknown, _) = send(&negotiation, NBD.optGo, NBDWire.infoData("nosuch"))
        #expect(again == .proceed)
        #expect(unknown.map(\.type) == [NBD.repErrUnknown])
        let (_, empty, _) = send(&negotiation, NBD.optGo, NBDWire.infoData(""))
        #expect(empty.map(\.type) == [NBD.repErrUnknown])
    }

    @Test("the empty name means the default export when there is one")
    func defaultExport() {
        var negotiation = NBDNegotiation(catalog: FixedCatalog(defaultName: "disk"))
        _ = negotiation.clientFlags(NBD.clientFlagFixedNewstyle)
        var out = ByteBuffer()
        #expect(negotiation.option(NBD.optGo, data: NBDWire.infoData(""), into: &out) == .transmit(FixedCatalog().entries[0]))
    }

    @Test("malformed INFO/GO data answers ERR_INVALID")
    func malformedGo() {
        var negotiation = negotiated()
        var data = NBDWire.infoData("disk", requests: [1])
        data.writeInteger(UInt8(0))
        #expect(send(&negotiation, NBD.optGo, data).1.map(\.type) == [NBD.repErrInvalid])
        var short = ByteBuffer()
        short.writeInteger(UInt32(10))
        #expect(send(&negotiation, NBD.optInfo, short).1.map(\.type) == [NBD.repErrInvalid])
    }

    @Test("LIST names every export with its description, then ACK; data is invalid")
    func list() {
        var negotiation = negotiated()
        let (action, replies, _) = send(&negotiation, NBD.optList)
        #expect(action == .proceed)
        #expect(replies.map(\.type) == [NBD.repServer, NBD.repServer, NBD.repAck])
        var first = replies[0].data
        let length = first.readInteger(as: UInt32.self) ?? 0
        #expect(first.readString(length: Int(length)) == "disk")
        #expect(first.readString(length: first.readableBytes) == "a disk")
        var data = ByteBuffer()
        data.writeInteger(UInt8(1))
        #expect(send(&negotiation, NBD.optList, data).1.map(\.type) == [NBD.repErrInvalid])
    }

    @Test("ABORT is acknowledged, then the connection closes")
    func abort() {
        var negotiation = negotiated()
        let (action, replies, _) = send(&negotiation, NBD.optAbort)
        #expect(replies.map(\.type) == [NBD.repAck])
        guard case .close = action else {
            Issue.record("expected close")
            return
        }
    }

    @Test("an unknown option is answered ERR_UNSUP; an over-long one ERR_TOO_BIG; STARTTLS without TLS ERR_UNSUP")
    func unsupported() {
        var negotiation = negotiated()
        var data = ByteBuffer()
        data.writeString("ignored")
        #expect(send(&negotiation, 99, data).1.map(\.type) == [NBD.repErrUnsup])
        var out = ByteBuffer()
        #expect(negotiation.optionTooLong(NBD.optInfo, length: 1 << 20, into: &out) == .proceed)
        #expect(NBDWire.optionReplies(&out).map(\.type) == [NBD.repErrTooBig])
        #expect(send(&negotiation, NBD.optStartTLS).1.map(\.type) == [NBD.repErrUnsup])
    }

    @Test("STRUCTURED_REPLY is acknowledged once; meta contexts need it first")
    func structuredAndMeta() {
        var negotiation = negotiated()
        let query = NBDWire.metaData("disk", queries: [NBD.metaContextBaseAllocation])
        #expect(send(&negotiation, NBD.optSetMetaContext, query).1.map(\.type) == [NBD.repErrInvalid])
        #expect(send(&negotiation, NBD.optStructuredReply).1.map(\.type) == [NBD.repAck])
        #expect(negotiation.structuredReplies)
        #expect(send(&negotiation, NBD.optStructuredReply).1.map(\.type) == [NBD.repErrInvalid])

        let listed = send(&negotiation, NBD.optListMetaContext, NBDWire.metaData("disk", queries: []))
        #expect(listed.1.map(\.type) == [NBD.repMetaContext, NBD.repAck])
        let other = send(&negotiation, NBD.optListMetaContext, NBDWire.metaData("disk", queries: ["qemu:dirty-bitmap:x"]))
        #expect(other.1.map(\.type) == [NBD.repAck])

        let set = send(&negotiation, NBD.optSetMetaContext, query)
        #expect(set.1.map(\.type) == [NBD.repMetaContext, NBD.repAck])
        var context = set.1[0].data
        #expect(context.readInteger(as: UInt32.self) == NBDNegotiation.baseAllocationID)
        #expect(context.readString(length: context.readableBytes) == "base:allocation")
        #expect(negotiation.baseAllocation)
        #expect(send(&negotiation, NBD.optSetMetaContext, NBDWire.metaData("nosuch", queries: [])).1.map(\.type)
            == [NBD.repErrUnknown])

        // GO on another export than the one SET named drops the selection.
        _ = send(&negotiation, NBD.optGo, NBDWire.infoData("ro"))
        #expect(!negotiation.baseAllocation)
    }

    @Test("more than 32 options end the connection")
    func optionCap() {
        var negotiation = negotiated()
        for _ in 0..<NBDNegotiation.maximumOptions {
            #expect(send(&negotiation, 99).0 == .proceed)
        }
        guard case .close = send(&negotiation, 99).0 else {
            Issue.record("expected close")
            return
        }
    }

    @Test("with TLS required, options before STARTTLS get ERR_TLS_REQD and EXPORT_NAME closes")
    func forcedTLS() {
        var negotiation = NBDNegotiation(catalog: FixedCatalog(), tlsRequired: true, tlsAvailable: true)
        _ = negotiation.clientFlags(NBD.clientFlagFixedNewstyle)
        var out = ByteBuffer()
        #expect(negotiation.option(NBD.optGo, data: NBDWire.infoData("disk"), into: &out) == .proceed)
        #expect(NBDWire.optionReplies(&out).map(\.type) == [NBD.repErrTLSReqd])
        #expect(negotiation.option(NBD.optStartTLS, data: ByteBuffer(), into: &out) == .startTLS)
        #expect(NBDWire.optionReplies(&out).map(\.type) == [NBD.repAck])
        negotiation.tlsStarted()
        #expect(negotiation.option(NBD.optGo, data: NBDWire.infoData("disk"), into: &out) == .transmit(FixedCatalog().entries[0]))
    }

    @Test("read-only exports advertise no write commands; writable ones every flag")
    func transmissionFlags() {
        let catalog = FixedCatalog()
        let rw = catalog.entries[0].transmissionFlags
        let ro = catalog.entries[1].transmissionFlags
        for flag in [NBD.flagHasFlags, NBD.flagSendFlush, NBD.flagSendFUA, NBD.flagSendTrim, NBD.flagSendWriteZeroes,
            NBD.flagCanMultiConn, NBD.flagSendFastZero] {
            #expect(rw & flag != 0)
        }
        #expect(rw & NBD.flagReadOnly == 0)
        #expect(ro & NBD.flagReadOnly != 0)
        #expect(ro & (NBD.flagSendTrim | NBD.flagSendWriteZeroes | NBD.flagSendFUA) == 0)
    }
}
