import MapperCore
import NIOCore

/// The client side of the NBD protocol on one channel: drives the fixed-newstyle handshake
/// (client flags, `NBD_OPT_STRUCTURED_REPLY`, `NBD_OPT_GO`) and then decodes simple and
/// structured replies, matching them by handle to the requests of its
/// ``NBDClientConnection``.
///
/// Read data is copied as it arrives from the socket's buffers into the request's buffer
/// (no cumulation of a large read). Anything the protocol does not allow (an unknown magic or
/// handle, data outside the request, an oversized chunk) is a protocol error: the decoder
/// throws and the channel is closed, which ends every request in flight with EIO.
/// Runs on the channel's event loop only.
final class NBDClientDecoder: ByteToMessageDecoder, @unchecked Sendable {
    typealias InboundOut = Never

    private enum Phase {
        case greeting, structuredReply, go, transmission
    }

    private enum Partial {
        case none
        /// Copying `remaining` bytes of read data into the request's buffer at `at`; then the
        /// request ends when `ends`.
        case data(handle: UInt64, request: BlockRequest, at: Int, remaining: Int, ends: Bool)
    }

    private let exportName: String
    private let handshake: EventLoopPromise<NBDExportInfo>
    private var handshakeDone = false
    private var phase = Phase.greeting
    private var partial = Partial.none
    private var structured = false
    private var export: (size: UInt64, flags: UInt16)?
    /// Set on the event loop once the handshake has succeeded.
    var connection: NBDClientConnection?

    /// The longest option reply or non-data chunk accepted.
    private static let maximumControlLength = 64 << 10

    init(exportName: String, handshake: EventLoopPromise<NBDExportInfo>) {
        self.exportName = exportName
        self.handshake = handshake
    }

    func connectionClosed() {
        finishHandshake(.failure(MapperError(.EIO, "the server closed the connection during the handshake")))
    }

    private func finishHandshake(_ result: Result<NBDExportInfo, any Error>) {
        guard !handshakeDone else { return }
        handshakeDone = true
        handshake.completeWith(result)
    }

    private func fail(_ errno: Errno, _ message: String) -> MapperError {
        let error = MapperError(errno, message)
        finishHandshake(.failure(error))
        return error
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch phase {
        case .greeting: return try greeting(context: context, buffer: &buffer)
        case .structuredReply, .go: return try optionReply(context: context, buffer: &buffer)
        case .transmission: return try reply(buffer: &buffer)
        }
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    // MARK: Handshake

    private func greeting(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= 18 else { return .needMoreData }
        let magic = buffer.readInteger(as: UInt64.self)!
        let style = buffer.readInteger(as: UInt64.self)!
        let flags = buffer.readInteger(as: UInt16.self)!
        guard magic == NBD.initMagic else { throw fail(.EIO, "not an NBD server (bad greeting)") }
        guard style == NBD.optionMagic else { throw fail(.ENOTSUP, "oldstyle NBD servers are not supported") }
        guard flags & NBD.flagFixedNewstyle != 0 else {
            throw fail(.ENOTSUP, "the server does not speak fixed newstyle")
        }
        var out = context.channel.allocator.buffer(capacity: 64)
        var clientFlags = NBD.clientFlagFixedNewstyle
        if flags & NBD.flagNoZeroes != 0 { clientFlags |= NBD.clientFlagNoZeroes }
        out.writeInteger(clientFlags)
        Self.writeOption(NBD.optStructuredReply, data: nil, into: &out)
        context.writeAndFlush(NIOAny(out), promise: nil)
        phase = .structuredReply
        return .continue
    }

    private static func writeOption(_ option: UInt32, data: ByteBuffer?, into out: inout ByteBuffer) {
        out.writeInteger(NBD.optionMagic)
        out.writeInteger(option)
        out.writeInteger(UInt32(data?.readableBytes ?? 0))
        if var data { out.writeBuffer(&data) }
    }

    private func optionReply(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= 20 else { return .needMoreData }
        let start = buffer.readerIndex
        let magic = buffer.getInteger(at: start, as: UInt64.self)!
        let type = buffer.getInteger(at: start + 12, as: UInt32.self)!
        let length = Int(buffer.getInteger(at: start + 16, as: UInt32.self)!)
        guard magic == NBD.optionReplyMagic else { throw fail(.EIO, "bad option reply from the server") }
        guard length <= Self.maximumControlLength else { throw fail(.EIO, "oversized option reply") }
        guard buffer.readableBytes >= 20 + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 20)
        var data = buffer.readSlice(length: length)!
        if phase == .structuredReply {
            // ACK: structured replies on; an error (NBD_REP_ERR_UNSUP...): simple replies.
            structured = type == NBD.repAck
            var go = context.channel.allocator.buffer(capacity: 8 + exportName.utf8.count)
            go.writeInteger(UInt32(exportName.utf8.count))
            go.writeString(exportName)
            go.writeInteger(UInt16(0))
            var out = context.channel.allocator.buffer(capacity: 32 + go.readableBytes)
            Self.writeOption(NBD.optGo, data: go, into: &out)
            context.writeAndFlush(NIOAny(out), promise: nil)
            phase = .go
            return .continue
        }
        switch type {
        case NBD.repInfo:
            if data.readableBytes >= 12, data.readInteger(as: UInt16.self) == NBD.infoExport {
                export = (data.readInteger(as: UInt64.self)!, data.readInteger(as: UInt16.self)!)
            }
            return .continue
        case NBD.repAck:
            guard let export else { throw fail(.EIO, "the server sent no export information") }
            guard export.size % 512 == 0, export.size > 0 else {
                throw fail(.EINVAL, "the export's size (\(export.size) bytes) is not a positive multiple of 512")
            }
            phase = .transmission
            finishHandshake(.success(NBDExportInfo(sizeBytes: export.size, flags: export.flags, structuredReplies: structured)))
            return .continue
        default:
            let message = data.readString(length: data.readableBytes) ?? ""
            let detail = message.isEmpty ? "" : ": \(message)"
            switch type {
            case NBD.repErrUnknown: throw fail(.ENOENT, "no export named '\(exportName)'\(detail)")
            case NBD.repErrTLSReqd: throw fail(.ENOTSUP, "the server requires TLS\(detail)")
            case NBD.repErrPolicy: throw fail(.EPERM, "the server refused the export\(detail)")
            case NBD.repErrShutdown: throw fail(.ENOTCONN, "the server is shutting down\(detail)")
            default:
                if type & 0x8000_0000 != 0 { throw fail(.EIO, "the server refused NBD_OPT_GO (\(type))\(detail)") }
                // Replies this client does not ask for are ignored.
                return .continue
            }
        }
    }

    // MARK: Transmission

    private func reply(buffer: inout ByteBuffer) throws -> DecodingState {
        guard let connection else { throw MapperError(.EIO, "reply before the connection was ready") }
        if case .data(let handle, let request, let at, let remaining, let ends) = partial {
            let take = min(remaining, buffer.readableBytes)
            guard take > 0 else { return .needMoreData }
            if let target = request.buffer {
                buffer.withUnsafeReadableBytes { source in
                    target.pointer(at: request.bufferOffset + at).copyMemory(from: source.baseAddress!, byteCount: take)
                }
            }
            buffer.moveReaderIndex(forwardBy: take)
            if take == remaining {
                partial = .none
                if ends { connection.complete(handle, nil) }
            } else {
                partial = .data(handle: handle, request: request, at: at + take, remaining: remaining - take, ends: ends)
            }
            return .continue
        }
        guard let magic = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        switch magic {
        case NBD.simpleReplyMagic: return try simpleReply(buffer: &buffer, connection)
        case NBD.structuredReplyMagic: return try structuredChunk(buffer: &buffer, connection)
        default: throw MapperError(.EIO, "bad reply magic 0x\(String(magic, radix: 16)) from the server")
        }
    }

    private func simpleReply(buffer: inout ByteBuffer, _ connection: NBDClientConnection) throws -> DecodingState {
        guard buffer.readableBytes >= 16 else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let error = buffer.readInteger(as: UInt32.self)!
        let handle = buffer.readInteger(as: UInt64.self)!
        guard let entry = connection.entry(handle) else { throw MapperError(.EIO, "reply to unknown handle \(handle)") }
        if error != 0 {
            // An error reply carries no data (NBD spec, simple replies).
            connection.complete(handle, NBDErrno.errno(error))
        } else if entry.request.op == .read, entry.request.byteCount > 0 {
            partial = .data(handle: handle, request: entry.request, at: 0, remaining: entry.request.byteCount, ends: true)
        } else {
            connection.complete(handle, nil)
        }
        return .continue
    }

    private func structuredChunk(buffer: inout ByteBuffer, _ connection: NBDClientConnection) throws -> DecodingState {
        guard buffer.readableBytes >= 20 else { return .needMoreData }
        let start = buffer.readerIndex
        let flags = buffer.getInteger(at: start + 4, as: UInt16.self)!
        let type = buffer.getInteger(at: start + 6, as: UInt16.self)!
        let handle = buffer.getInteger(at: start + 8, as: UInt64.self)!
        let length = Int(buffer.getInteger(at: start + 16, as: UInt32.self)!)
        let done = flags & NBD.replyFlagDone != 0
        guard let entry = connection.entry(handle) else { throw MapperError(.EIO, "reply to unknown handle \(handle)") }
        let request = entry.request
        let requestStart = request.sector << 9
        if type == NBD.replyTypeOffsetData {
            guard length >= 8 else { throw MapperError(.EIO, "short NBD_REPLY_TYPE_OFFSET_DATA") }
            guard buffer.readableBytes >= 28 else { return .needMoreData }
            let offset = buffer.getInteger(at: start + 20, as: UInt64.self)!
            let count = length - 8
            guard request.op == .read, offset >= requestStart,
                offset - requestStart + UInt64(count) <= UInt64(request.byteCount)
            else { throw MapperError(.EIO, "read data outside the request (handle \(handle))") }
            buffer.moveReaderIndex(forwardBy: 28)
            if count == 0 {
                if done { connection.complete(handle, nil) }
            } else {
                partial = .data(handle: handle, request: request, at: Int(offset - requestStart), remaining: count, ends: done)
            }
            return .continue
        }
        guard length <= Self.maximumControlLength else { throw MapperError(.EIO, "oversized reply chunk") }
        guard buffer.readableBytes >= 20 + length else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 20)
        var payload = buffer.readSlice(length: length)!
        switch type {
        case NBD.replyTypeNone:
            break
        case NBD.replyTypeOffsetHole:
            guard let offset = payload.readInteger(as: UInt64.self), let size = payload.readInteger(as: UInt32.self),
                request.op == .read, offset >= requestStart,
                offset - requestStart + UInt64(size) <= UInt64(request.byteCount)
            else { throw MapperError(.EIO, "hole outside the request (handle \(handle))") }
            request.buffer?.pointer(at: request.bufferOffset + Int(offset - requestStart))
                .initializeMemory(as: UInt8.self, repeating: 0, count: Int(size))
        default:
            if type & 0x8000 != 0 {
                let code = payload.readInteger(as: UInt32.self) ?? NBD.EIO
                connection.noteError(handle, NBDErrno.errno(code == 0 ? NBD.EIO : code))
            }
            // Other chunk types (block status) are not asked for and are skipped.
        }
        if done { connection.complete(handle, nil) }
        return .continue
    }
}
