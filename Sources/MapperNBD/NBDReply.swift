import MapperCore
import NIOCore

/// Encodes transmission-phase replies: simple replies, and the structured chunks this server
/// sends (`OFFSET_DATA`, `BLOCK_STATUS`, `ERROR`), each the only and final chunk of its reply.
enum NBDReply {
    static func simple(handle: UInt64, error: UInt32, into out: inout ByteBuffer) {
        out.writeInteger(NBD.simpleReplyMagic)
        out.writeInteger(error)
        out.writeInteger(handle)
    }

    /// A successful simple read reply followed by `count` bytes from `data`.
    static func simpleRead(handle: UInt64, data: UnsafeRawPointer, count: Int, into out: inout ByteBuffer) {
        simple(handle: handle, error: 0, into: &out)
        out.writeBytes(UnsafeRawBufferPointer(start: data, count: count))
    }

    private static func chunkHeader(type: UInt16, handle: UInt64, length: Int, into out: inout ByteBuffer) {
        out.writeInteger(NBD.structuredReplyMagic)
        out.writeInteger(NBD.replyFlagDone)
        out.writeInteger(type)
        out.writeInteger(handle)
        out.writeInteger(UInt32(length))
    }

    /// `NBD_REPLY_TYPE_OFFSET_DATA` with the done flag.
    static func offsetData(
        handle: UInt64, offset: UInt64, data: UnsafeRawPointer, count: Int, into out: inout ByteBuffer
    ) {
        chunkHeader(type: NBD.replyTypeOffsetData, handle: handle, length: 8 + count, into: &out)
        out.writeInteger(offset)
        out.writeBytes(UnsafeRawBufferPointer(start: data, count: count))
    }

    /// `NBD_REPLY_TYPE_ERROR` with the done flag and a message.
    static func structuredError(handle: UInt64, error: UInt32, message: String, into out: inout ByteBuffer) {
        let text = Array(message.utf8.prefix(1024))
        chunkHeader(type: NBD.replyTypeError, handle: handle, length: 6 + text.count, into: &out)
        out.writeInteger(error)
        out.writeInteger(UInt16(text.count))
        out.writeBytes(text)
    }

    /// `NBD_REPLY_TYPE_BLOCK_STATUS` for one context with the done flag.
    /// `skip` bytes are taken off the first extent: the request began that far into its
    /// first sector (a client with a minimum block size of 1).
    static func blockStatus(
        handle: UInt64, contextID: UInt32, extents: [AllocationExtent], skip: Int = 0, into out: inout ByteBuffer
    ) {
        chunkHeader(type: NBD.replyTypeBlockStatus, handle: handle, length: 4 + 8 * extents.count, into: &out)
        out.writeInteger(contextID)
        for (index, extent) in extents.enumerated() {
            out.writeInteger(UInt32(extent.sectors << 9) - (index == 0 ? UInt32(skip) : 0))
            out.writeInteger((extent.hole ? NBD.stateHole : 0) | (extent.zero ? NBD.stateZero : 0))
        }
    }
}
