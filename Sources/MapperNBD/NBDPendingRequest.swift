import MapperCore
import NIOCore

/// One request between its decoding and its reply: the end-I/O receiver of its bio(s).
///
/// Created and advanced on the connection's event loop; ``endIO(_:)`` may be
/// called from any thread and hops back to that loop: directly when already on it (the
/// common case: a file backend completes inside `submit`), through the connection's
/// ``NBDEndInbox`` otherwise (one task for a run of ends). Mutable fields are touched only on
/// the loop, or before the bio is submitted (which publishes them).
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
    /// Where ends from other threads wait for the loop.
    let inbox: NBDEndInbox
    /// The bio in flight for this request.
    var bio: Bio?
    var stage: Stage

    init(request: NBDRequest, connection: NIOLoopBound<NBDConnectionHandler>, inbox: NBDEndInbox, stage: Stage) {
        self.request = request
        self.connection = connection
        self.inbox = inbox
        self.stage = stage
    }

    func endIO(_ error: Errno?) {
        let loop = connection.eventLoop
        if loop.inEventLoop {
            connection.value.bioEnded(self, error: error)
        } else if inbox.post(self, error: error) {
            let connection = self.connection
            loop.execute { connection.value.takeEnds() }
        }
    }
}
