import MapperCore
import NIOCore

/// One request between its decoding and its reply: the end-I/O receiver of its bio(s).
///
/// Created and advanced on the connection's event loop; ``endIO(_:)`` may be
/// called from any thread and hops back to that loop (directly when already on it, which is
/// the common case: a file backend completes inside `submit`). Mutable fields are touched
/// only on the loop, or before the bio is submitted (which publishes them).
final class NBDPendingRequest: BlockIOCompletion, @unchecked Sendable {
    /// What remains to do after the current bio ends successfully.
    enum Stage {
        /// Reply.
        case reply
        /// Flush (FUA), then reply.
        case flushThenReply
        /// Write zeros from `next` (bytes) up to `end`, then `after`.
        case zeroes(next: UInt64, end: UInt64, fua: Bool)
    }

    let request: NBDRequest
    let connection: NIOLoopBound<NBDConnectionHandler>
    /// The bio in flight for this request.
    var bio: Bio?
    var stage: Stage

    init(request: NBDRequest, connection: NIOLoopBound<NBDConnectionHandler>, stage: Stage) {
        self.request = request
        self.connection = connection
        self.stage = stage
    }

    func endIO(_ error: Errno?) {
        let loop = connection.eventLoop
        if loop.inEventLoop {
            connection.value.bioEnded(self, error: error)
        } else {
            loop.execute { self.connection.value.bioEnded(self, error: error) }
        }
    }
}
