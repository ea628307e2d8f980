import NIOCore

/// What ``NBDFrameDecoder`` reads from a client, in protocol order.
public enum NBDClientMessage: Sendable, Equatable {
    /// The client's 32-bit flags, first thing after the server's greeting.
    case clientFlags(UInt32)
    /// One option of the handshake (`IHAVEOPT`, code, data).
    case option(code: UInt32, data: ByteBuffer)
    /// An option whose data was longer than the server accepts; the data was discarded.
    case optionTooLong(code: UInt32, length: UInt32)
    /// A transmission-phase request.
    case request(NBDRequest)
}

/// A violation that ends the connection: the stream cannot be resynchronised.
public enum NBDProtocolError: Error, Equatable, Sendable {
    /// A handshake option without `IHAVEOPT`.
    case badOptionMagic(UInt64)
    /// A request without `NBD_REQUEST_MAGIC`.
    case badRequestMagic(UInt32)
}
