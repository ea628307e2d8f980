import MapperCore
import Synchronization

/// Bio ends that arrive off a connection's event loop (a mirror leg's queue, a remote
/// backend's reply, a delayed target's timer), gathered so that a run of them costs the loop
/// one task and the socket one flush (``NBDTransmission/endBatchBegan()``), not one of each per
/// request.
///
/// Threading: any thread posts; only the connection's event loop takes. A post that finds the
/// inbox empty returns `true`, and its caller schedules one take on the loop; posts while it
/// is not empty return `false`, as the take scheduled already will see them. So exactly one
/// take is pending while the inbox holds anything, and none is lost.
final class NBDEndInbox: Sendable {
    private let ends = Mutex<[(request: NBDPendingRequest, error: Errno?)]>([])

    /// Adds one end; `true` when the inbox was empty (the caller schedules ``take()`` on the
    /// loop).
    func post(_ request: NBDPendingRequest, error: Errno?) -> Bool {
        ends.withLock { ends in
            ends.append((request, error))
            return ends.count == 1
        }
    }

    /// Every end posted so far, oldest first; the inbox is empty after.
    func take() -> [(request: NBDPendingRequest, error: Errno?)] {
        ends.withLock { ends in
            var taken: [(request: NBDPendingRequest, error: Errno?)] = []
            swap(&taken, &ends)
            return taken
        }
    }
}
