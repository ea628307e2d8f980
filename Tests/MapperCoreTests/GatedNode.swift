import Dispatch
import Synchronization

@testable import MapperCore

/// A leg whose first `submit` waits (on the submitting thread) until the test opens its gate;
/// records the sector of every submit.
final class GatedNode: BlockNode {
    let name = "gated"
    let sizeSectors: UInt64 = 1 << 20
    let kind = BlockNodeKind.backend
    let holders = Holders()
    let sectors = Mutex<[UInt64]>([])
    private let gate = DispatchSemaphore(value: 0)
    private let state = Mutex<(entered: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func submit(_ request: BlockRequest) {
        let first = sectors.withLock { sectors in
            sectors.append(request.sector)
            return sectors.count == 1
        }
        if first {
            let waiter = state.withLock { state in
                state.entered = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
            gate.wait()
        }
        request.endIO(nil)
    }

    /// Returns once the first submit has begun.
    func entered() async {
        await withCheckedContinuation { continuation in
            let entered = state.withLock { state in
                if !state.entered { state.waiter = continuation }
                return state.entered
            }
            if entered { continuation.resume() }
        }
    }

    func open() { gate.signal() }

    func request(_ sector: UInt64) -> (BlockRequest, MirrorLegEnd, RequestEnd) {
        let end = RequestEnd(afterEndNanos: 0)
        let legEnd = MirrorLegEnd(end, leg: 0)
        return (
            BlockRequest(op: .write, sector: sector, sectors: 1, buffer: nil, bufferOffset: 0, completion: legEnd),
            legEnd, end
        )
    }
}
