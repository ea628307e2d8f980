import Synchronization

/// The I/O a thin pool has sent to its data device, counted by epoch (dm-thin's `all_io_ds`
/// deferred set): a data block that a discard unmapped must not be handed out again while a
/// read or write mapped to it before the discard is still in flight, or that I/O would land in
/// (or read) another device's data. A commit frees the blocks it released only after
/// ``flipAndDrain()``: the epoch changes, and the wait ends once every I/O that entered the
/// old one has left it.
///
/// **Precondition**: every ``enter()`` is paired with one ``leave(_:)`` of the mark it
/// returned, and ``flipAndDrain()`` has one caller at a time (the pool's commits). The orders
/// are sequentially consistent: an I/O that finds the epoch unchanged after counting itself
/// was counted before the flip, so the drain that follows the flip waits for it.
final class ThinIOEpochs: Sendable {
    /// An I/O's epoch, kept as its clone's map context (the pool keeps the two marks alive).
    final class Mark: Sendable {
        let epoch: Int
        init(_ epoch: Int) { self.epoch = epoch }
    }

    private let marks = [Mark(0), Mark(1)]
    private let current = Atomic<Int>(0)
    private let even = Atomic<Int>(0)
    private let odd = Atomic<Int>(0)
    private let drainer = Mutex<(epoch: Int, continuation: CheckedContinuation<Void, Never>)?>(nil)

    /// Counts one I/O in the current epoch; pass the mark to ``leave(_:)`` when it ends.
    func enter() -> Mark {
        while true {
            let epoch = current.load(ordering: .sequentiallyConsistent)
            add(1, to: epoch)
            if current.load(ordering: .sequentiallyConsistent) == epoch { return marks[epoch] }
            // The epoch changed meanwhile: counted in the new one instead.
            left(epoch)
        }
    }

    /// The I/O counted under `mark` has ended.
    func leave(_ mark: Mark) { left(mark.epoch) }

    /// I/O in flight in `epoch` (tests).
    func count(_ epoch: Int) -> Int {
        epoch == 0 ? even.load(ordering: .sequentiallyConsistent) : odd.load(ordering: .sequentiallyConsistent)
    }

    /// Changes the epoch, then returns once no I/O of the old one is in flight.
    func flipAndDrain() async {
        let old = current.load(ordering: .sequentiallyConsistent)
        current.store(1 - old, ordering: .sequentiallyConsistent)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = drainer.withLock { drainer -> Bool in
                if count(old) == 0 { return true }
                drainer = (old, continuation)
                return false
            }
            if drained { continuation.resume() }
        }
    }

    private func add(_ delta: Int, to epoch: Int) {
        if epoch == 0 {
            even.wrappingAdd(delta, ordering: .sequentiallyConsistent)
        } else {
            odd.wrappingAdd(delta, ordering: .sequentiallyConsistent)
        }
    }

    private func left(_ epoch: Int) {
        let remaining =
            epoch == 0
            ? even.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
            : odd.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
        guard remaining == 0 else { return }
        let waiter = drainer.withLock { drainer -> CheckedContinuation<Void, Never>? in
            guard let (waiting, continuation) = drainer, waiting == epoch, count(epoch) == 0 else { return nil }
            drainer = nil
            return continuation
        }
        waiter?.resume()
    }
}
