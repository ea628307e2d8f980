import MapperCore
import NIOCore
import Testing

@testable import MapperNBD

/// ``NBDClientNegotiation`` as tables: the greeting, structured replies on or off, `GO` with
/// its export information, and every refusal with its errno. No channel.
@Suite("NBD client negotiation")
struct NBDClientNegotiationTests {
    static func option(_ code: UInt32, _ data: ByteBuffer? = nil) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeInteger(NBD.optionMagic)
        out.writeInteger(code)
        out.writeInteger(UInt32(data?.readableBytes ?? 0))
        if var data { out.writeBuffer(&data) }
        return out
    }

    static func exportInfo(size: UInt64, flags: UInt16) -> ByteBuffer {
        var data = ByteBuffer()
        data.writeInteger(NBD.infoExport)
        data.writeInteger(size)
        data.writeInteger(flags)
        return data
    }

    /// A negotiation past its greeting and structured-reply answer (`structured`).
    static func atGo(structured: Bool = true) -> NBDClientNegotiation {
        var negotiation = NBDClientNegotiation(exportName: "d0")
        _ = negotiation.greeting(magic: NBD.initMagic, style: NBD.optionMagic, flags: NBD.flagFixedNewstyle)
        _ = negotiation.optionReply(
            magic: NBD.optionReplyMagic, type: structured ? NBD.repAck : NBD.repErrUnsup, data: ByteBuffer())
        return negotiation
    }

    @Test("greeting: client flags and STRUCTURED_REPLY go out; NO_ZEROES only when offered")
    func greeting() {
        var negotiation = NBDClientNegotiation(exportName: "d0")
        var expected = ByteBuffer()
        expected.writeInteger(NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes)
        var structured = Self.option(NBD.optStructuredReply)
        expected.writeBuffer(&structured)
        #expect(
            negotiation.greeting(
                magic: NBD.initMagic, style: NBD.optionMagic, flags: NBD.flagFixedNewstyle | NBD.flagNoZeroes)
                == .send(expected))
        #expect(negotiation.phase == .structuredReply)
    }

    @Test(
        "greeting refusals",
        arguments: [
            (UInt64(1), NBD.optionMagic, NBD.flagFixedNewstyle, Errno.EIO),
            (NBD.initMagic, UInt64(0x0042_0281_8612_53), NBD.flagFixedNewstyle, Errno.ENOTSUP),
            (NBD.initMagic, NBD.optionMagic, UInt16(0), Errno.ENOTSUP),
        ])
    func greetingRefusals(magic: UInt64, style: UInt64, flags: UInt16, errno: Errno) {
        var negotiation = NBDClientNegotiation(exportName: "d0")
        guard case .fail(let error) = negotiation.greeting(magic: magic, style: style, flags: flags) else {
            Issue.record("not refused")
            return
        }
        #expect(error.errno == errno)
        #expect(negotiation.phase == .failed)
    }

    @Test("GO names the export; INFO then ACK enters transmission, with or without structured replies")
    func go() {
        for structured in [true, false] {
            var negotiation = NBDClientNegotiation(exportName: "d0")
            _ = negotiation.greeting(magic: NBD.initMagic, style: NBD.optionMagic, flags: NBD.flagFixedNewstyle)
            var data = ByteBuffer()
            data.writeInteger(UInt32(2))
            data.writeString("d0")
            data.writeInteger(UInt16(0))
            #expect(
                negotiation.optionReply(
                    magic: NBD.optionReplyMagic, type: structured ? NBD.repAck : NBD.repErrUnsup, data: ByteBuffer())
                    == .send(Self.option(NBD.optGo, data)))
            #expect(
                negotiation.optionReply(
                    magic: NBD.optionReplyMagic, type: NBD.repInfo, data: Self.exportInfo(size: 1 << 20, flags: 3))
                    == .wait)
            #expect(negotiation.optionReply(magic: NBD.optionReplyMagic, type: 77, data: ByteBuffer()) == .wait)
            #expect(
                negotiation.optionReply(magic: NBD.optionReplyMagic, type: NBD.repAck, data: ByteBuffer())
                    == .transmit(NBDExportInfo(sizeBytes: 1 << 20, flags: 3, structuredReplies: structured)))
            #expect(negotiation.phase == .transmission)
        }
    }

    @Test(
        "GO refusals and bad answers, each with its errno",
        arguments: [
            (NBD.repErrUnknown, Errno.ENOENT), (NBD.repErrTLSReqd, .ENOTSUP), (NBD.repErrPolicy, .EPERM),
            (NBD.repErrShutdown, .ENOTCONN), (UInt32(0x8000_0099), .EIO),
        ])
    func goRefusals(type: UInt32, errno: Errno) {
        var negotiation = Self.atGo()
        var message = ByteBuffer()
        message.writeString("because")
        guard case .fail(let error) = negotiation.optionReply(magic: NBD.optionReplyMagic, type: type, data: message)
        else {
            Issue.record("not refused")
            return
        }
        #expect(error.errno == errno && error.message.hasSuffix(": because"))
    }

    @Test("an ACK without export information, a bad size, a bad magic and a reply out of turn fail")
    func badAnswers() {
        var noInfo = Self.atGo()
        #expect(
            noInfo.optionReply(magic: NBD.optionReplyMagic, type: NBD.repAck, data: ByteBuffer())
                == .fail(MapperError(.EIO, "the server sent no export information")))

        var oddSize = Self.atGo()
        _ = oddSize.optionReply(
            magic: NBD.optionReplyMagic, type: NBD.repInfo, data: Self.exportInfo(size: 1000, flags: 0))
        guard case .fail(let error) = oddSize.optionReply(magic: NBD.optionReplyMagic, type: NBD.repAck, data: ByteBuffer())
        else {
            Issue.record("a size of 1000 bytes was accepted")
            return
        }
        #expect(error.errno == .EINVAL)

        var badMagic = Self.atGo()
        #expect(
            badMagic.optionReply(magic: 1, type: NBD.repAck, data: ByteBuffer())
                == .fail(MapperError(.EIO, "bad option reply from the server")))

        var early = NBDClientNegotiation(exportName: "d0")
        guard case .fail = early.optionReply(magic: NBD.optionReplyMagic, type: NBD.repAck, data: ByteBuffer()) else {
            Issue.record("a reply before the greeting was accepted")
            return
        }
    }
}
