import MapperCore
import NIOCore

// Replies: encoded into the buffer of replies not flushed yet, handed to the channel on flush.
extension NBDConnectionHandler {
    /// Replies to a request that ended: its error, a read's `data` (the request's length of
    /// bytes), or success; then ends the request in ``transmission`` (which may flush and read
    /// on) at `endedNanos` (``MonotonicClock``; `nil`: now).
    func replyEnded(
        _ request: NBDRequest, error: Errno?, data: UnsafeRawPointer?, endedNanos: UInt64? = nil,
        context: ChannelHandlerContext
    ) {
        if let error {
            reply(request, error: NBDErrno.code(error), message: "\(error.name)", context: context)
        } else if request.type == NBD.cmdRead, let data {
            let count = Int(request.length)
            let structured = negotiation.structuredReplies
            writeReply(capacity: count + 32, context: context) { out in
                if structured {
                    NBDReply.offsetData(
                        handle: request.handle, offset: request.offset, data: data, count: count, into: &out)
                } else {
                    NBDReply.simpleRead(handle: request.handle, data: data, count: count, into: &out)
                }
            }
            stats.bytesRead.add(UInt64(count), ordering: .relaxed)
        } else {
            if request.type == NBD.cmdWrite { stats.bytesWritten.add(UInt64(request.length), ordering: .relaxed) }
            reply(request, error: 0, message: "", context: context)
        }
        perform(transmission.ended(bytes: Int(request.length), now: endedNanos ?? Self.now), context)
    }

    /// An error or data-less reply. Reads get a structured error chunk once structured
    /// replies are on; everything else a simple reply.
    func reply(_ request: NBDRequest, error: UInt32, message: String, context: ChannelHandlerContext) {
        let chunk =
            error != 0 && negotiation.structuredReplies
            && (request.type == NBD.cmdRead || request.type == NBD.cmdBlockStatus)
        writeReply(capacity: 64 + message.utf8.count, context: context) { out in
            if chunk {
                NBDReply.structuredError(handle: request.handle, error: error, message: message, into: &out)
            } else {
                NBDReply.simple(handle: request.handle, error: error, into: &out)
            }
        }
    }

    /// Encodes one reply (about `capacity` bytes) after the replies not flushed yet: they go to
    /// the channel as one write when the transmission machine says flush (one buffer and one
    /// pending write per flush, not per reply).
    func writeReply(capacity: Int, context: ChannelHandlerContext, _ encode: (inout ByteBuffer) -> Void) {
        if unflushed == nil {
            unflushed = context.channel.allocator.buffer(capacity: max(capacity, Self.replyBufferSize))
        }
        encode(&unflushed!)
        perform(transmission.wrote(), context)
    }

    /// The smallest buffer replies are gathered in.
    static let replyBufferSize = 16 << 10
}
