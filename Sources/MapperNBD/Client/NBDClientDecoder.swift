import MapperCore
import NIOCore

/// The client side of the NBD protocol on one channel: parses the fixed-newstyle handshake
/// frames for ``NBDClientNegotiation`` (which decides what to send) and then decodes simple and
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

    private enum Partial {
        case none
        /// Copying `remaining` bytes of read data into the request's buffer at `at`; then the
        /// request ends when `ends`.
        case data(handle: UInt64, request: BlockRequest, at: Int, remaining: Int, ends: Bool)
    }

    private let handshake: EventLoopPromise<NBDExportInfo>
    private var handshakeDone = false
    /// The handshake's decisions (``NBDClientNegotiation``); this decoder only parses frames.
    private var negotiation: NBDClientNegotiation
    private var partial = Partial.none
    /// Set on the event loop once the handshake has succeeded.
    var connection: NBDClientConnection?

    /// The longest option reply or non-data chunk accepted.
    private static let maximumControlLength = 64 << 10

    init(exportName: String, handshake: EventLoopPromise<NBDExportInfo>) {
        self.negotiation = NBDClientNegotiation(exportName: exportName)
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

    private func fail(_ error: MapperError) -> MapperError {
        finishHandshake(.failure(error))
        return error
    }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch negotiation.phase {
        case .greeting: return try greeting(context: context, buffer: &buffer)
        case .structuredReply, .go: return try optionReply(context: context, buffer: &buffer)
        case .transmission: return try reply(buffer: &buffer)
        case .failed: throw MapperError(.EIO, "the handshake failed")
        }
    }

    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    // MARK: Handshake

    private func greeting(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let (magic, style, flags) = buffer.readMultipleIntegers(as: (UInt64, UInt64, UInt16).self) else {
            return .needMoreData
        }
        return try carryOut(negotiation.greeting(magic: magic, style: style, flags: flags), context: context)
    }

    private func optionReply(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let start = buffer.readerIndex
        guard let magic = buffer.getInteger(at: start, as: UInt64.self),
            let type = buffer.getInteger(at: start + 12, as: UInt32.self),
            let length = buffer.getInteger(at: start + 16, as: UInt32.self)
        else { return .needMoreData }
        guard length <= Self.maximumControlLength else { throw fail(MapperError(.EIO, "oversized option reply")) }
        guard buffer.readableBytes >= 20 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 20)
        let data = buffer.readSlice(length: Int(length)) ?? ByteBuffer()
        return try carryOut(negotiation.optionReply(magic: magic, type: type, data: data), context: context)
    }

    /// Carries out a negotiation step: sends, waits, enters transmission or fails.
    private func carryOut(_ step: NBDClientNegotiation.Step, context: ChannelHandlerContext) throws -> DecodingState {
        switch step {
        case .send(let out):
            context.writeAndFlush(NIOAny(out), promise: nil)
        case .wait:
            break
        case .transmit(let info):
            finishHandshake(.success(info))
        case .fail(let error):
            throw fail(error)
        }
        return .continue
    }

    // MARK: Transmission

    private func reply(buffer: inout ByteBuffer) throws -> DecodingState {
        guard let connection else { throw MapperError(.EIO, "reply before the connection was ready") }
        if case .data(let handle, let request, let at, let remaining, let ends) = partial {
            let take = min(remaining, buffer.readableBytes)
            guard take > 0 else { return .needMoreData }
            if let target = request.buffer {
                buffer.withUnsafeReadableBytes { source in
                    if let base = source.baseAddress {
                        target.pointer(at: request.bufferOffset + at).copyMemory(from: base, byteCount: take)
                    }
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
        guard let (_, error, handle) = buffer.readMultipleIntegers(as: (UInt32, UInt32, UInt64).self) else {
            return .needMoreData
        }
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
        let start = buffer.readerIndex
        guard let flags = buffer.getInteger(at: start + 4, as: UInt16.self),
            let type = buffer.getInteger(at: start + 6, as: UInt16.self),
            let handle = buffer.getInteger(at: start + 8, as: UInt64.self),
            let rawLength = buffer.getInteger(at: start + 16, as: UInt32.self)
        else { return .needMoreData }
        let length = Int(rawLength)
        let done = flags & NBD.replyFlagDone != 0
        guard let entry = connection.entry(handle) else { throw MapperError(.EIO, "reply to unknown handle \(handle)") }
        let request = entry.request
        let requestStart = request.sector << 9
        if type == NBD.replyTypeOffsetData {
            guard length >= 8 else { throw MapperError(.EIO, "short NBD_REPLY_TYPE_OFFSET_DATA") }
            guard let offset = buffer.getInteger(at: start + 20, as: UInt64.self) else { return .needMoreData }
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
        var payload = buffer.readSlice(length: length) ?? ByteBuffer()
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
