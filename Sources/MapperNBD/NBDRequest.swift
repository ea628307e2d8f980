import MapperCore

/// One transmission-phase request as read off the wire (`struct nbd_request`), with a
/// write's payload already in the buffer the bio will use.
public struct NBDRequest: Sendable {
    public var flags: UInt16
    public var type: UInt16
    /// The client's opaque handle (cookie), echoed in the reply.
    public var handle: UInt64
    public var offset: UInt64
    public var length: UInt32
    /// A write's payload (exactly `length` bytes), read straight off the socket.
    public var payload: IOBuffer?
    /// A write whose payload was too large to accept: it was read and discarded so the
    /// stream stays in sync; the request must be answered with an error.
    public var payloadDiscarded: Bool

    public init(
        flags: UInt16, type: UInt16, handle: UInt64, offset: UInt64, length: UInt32, payload: IOBuffer? = nil,
        payloadDiscarded: Bool = false
    ) {
        self.flags = flags
        self.type = type
        self.handle = handle
        self.offset = offset
        self.length = length
        self.payload = payload
        self.payloadDiscarded = payloadDiscarded
    }

    /// Whether `flag` is set.
    public func has(_ flag: UInt16) -> Bool { flags & flag != 0 }
}

extension NBDRequest: Equatable {
    public static func == (lhs: NBDRequest, rhs: NBDRequest) -> Bool {
        lhs.flags == rhs.flags && lhs.type == rhs.type && lhs.handle == rhs.handle && lhs.offset == rhs.offset
            && lhs.length == rhs.length && lhs.payloadDiscarded == rhs.payloadDiscarded
            && lhs.payload?.bytes == rhs.payload?.bytes
    }
}
