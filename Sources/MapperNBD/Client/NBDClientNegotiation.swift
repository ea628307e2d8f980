import MapperCore
import NIOCore

/// The client side of fixed-newstyle negotiation as a pure state machine, the counterpart of
/// ``NBDNegotiation``: it takes the server's greeting and option replies and says what to
/// send next, or that transmission begins with the export's size and flags, or why it failed.
/// No channel; tested directly.
///
/// The client asks for structured replies (`NBD_OPT_STRUCTURED_REPLY`; an error reply means
/// simple replies), then `NBD_OPT_GO` for its export with no information requests. It needs
/// `NBD_INFO_EXPORT` before the `GO`'s ACK, and an export size that is a positive multiple
/// of 512; option replies it did not ask for are ignored; an error reply to `GO` fails with
/// the errno closest to the server's reason.
struct NBDClientNegotiation: Sendable {
    enum Step: Equatable, Sendable {
        /// Send these bytes, then wait for the next reply.
        case send(ByteBuffer)
        /// Wait for the next reply.
        case wait
        /// Transmission begins.
        case transmit(NBDExportInfo)
        /// The negotiation failed: close.
        case fail(MapperError)
    }

    enum Phase: Sendable, Equatable {
        case greeting, structuredReply, go, transmission, failed
    }

    let exportName: String
    private(set) var phase = Phase.greeting
    private var structured = false
    private var export: (size: UInt64, flags: UInt16)?

    init(exportName: String) { self.exportName = exportName }

    /// The server's greeting: its magic, the option magic (newstyle) and its handshake flags.
    mutating func greeting(magic: UInt64, style: UInt64, flags: UInt16) -> Step {
        guard phase == .greeting else { return failing(.EIO, "a second greeting") }
        guard magic == NBD.initMagic else { return failing(.EIO, "not an NBD server (bad greeting)") }
        guard style == NBD.optionMagic else { return failing(.ENOTSUP, "oldstyle NBD servers are not supported") }
        guard flags & NBD.flagFixedNewstyle != 0 else {
            return failing(.ENOTSUP, "the server does not speak fixed newstyle")
        }
        var out = ByteBuffer()
        var clientFlags = NBD.clientFlagFixedNewstyle
        if flags & NBD.flagNoZeroes != 0 { clientFlags |= NBD.clientFlagNoZeroes }
        out.writeInteger(clientFlags)
        Self.writeOption(NBD.optStructuredReply, data: nil, into: &out)
        phase = .structuredReply
        return .send(out)
    }

    /// One option reply: its magic, type and data.
    mutating func optionReply(magic: UInt64, type: UInt32, data: ByteBuffer) -> Step {
        guard magic == NBD.optionReplyMagic else { return failing(.EIO, "bad option reply from the server") }
        switch phase {
        case .structuredReply:
            // ACK: structured replies on; an error (NBD_REP_ERR_UNSUP...): simple replies.
            structured = type == NBD.repAck
            var go = ByteBuffer()
            go.writeInteger(UInt32(exportName.utf8.count))
            go.writeString(exportName)
            go.writeInteger(UInt16(0))
            var out = ByteBuffer()
            Self.writeOption(NBD.optGo, data: go, into: &out)
            phase = .go
            return .send(out)
        case .go:
            return goReply(type: type, data: data)
        case .greeting, .transmission, .failed:
            return failing(.EIO, "an option reply out of turn")
        }
    }

    private mutating func goReply(type: UInt32, data: ByteBuffer) -> Step {
        var data = data
        switch type {
        case NBD.repInfo:
            if data.readInteger(as: UInt16.self) == NBD.infoExport,
                let size = data.readInteger(as: UInt64.self), let flags = data.readInteger(as: UInt16.self)
            {
                export = (size, flags)
            }
            return .wait
        case NBD.repAck:
            guard let export else { return failing(.EIO, "the server sent no export information") }
            guard export.size % 512 == 0, export.size > 0 else {
                return failing(.EINVAL, "the export's size (\(export.size) bytes) is not a positive multiple of 512")
            }
            phase = .transmission
            return .transmit(NBDExportInfo(sizeBytes: export.size, flags: export.flags, structuredReplies: structured))
        default:
            let message = data.readString(length: data.readableBytes) ?? ""
            let detail = message.isEmpty ? "" : ": \(message)"
            switch type {
            case NBD.repErrUnknown: return failing(.ENOENT, "no export named '\(exportName)'\(detail)")
            case NBD.repErrTLSReqd: return failing(.ENOTSUP, "the server requires TLS\(detail)")
            case NBD.repErrPolicy: return failing(.EPERM, "the server refused the export\(detail)")
            case NBD.repErrShutdown: return failing(.ENOTCONN, "the server is shutting down\(detail)")
            default:
                if type & 0x8000_0000 != 0 { return failing(.EIO, "the server refused NBD_OPT_GO (\(type))\(detail)") }
                // Replies this client does not ask for are ignored.
                return .wait
            }
        }
    }

    private mutating func failing(_ errno: Errno, _ message: String) -> Step {
        phase = .failed
        return .fail(MapperError(errno, message))
    }

    private static func writeOption(_ option: UInt32, data: ByteBuffer?, into out: inout ByteBuffer) {
        out.writeInteger(NBD.optionMagic)
        out.writeInteger(option)
        out.writeInteger(UInt32(data?.readableBytes ?? 0))
        if var data { out.writeBuffer(&data) }
    }
}
