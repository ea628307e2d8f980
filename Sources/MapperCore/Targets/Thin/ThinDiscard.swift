/// A whole-block discard passed down to the data block it frees; once it has ended, the block
/// is unmapped (``ThinPool/unmapped(_:key:error:)``), so that the data block is never handed
/// out again while the discard is still in flight.
final class ThinDiscard: BlockIOCompletion, @unchecked Sendable {
    private let pool: ThinPool
    private let clone: Clone
    private let key: ThinPool.Key

    init(pool: ThinPool, clone: Clone, key: ThinPool.Key) {
        self.pool = pool
        self.clone = clone
        self.key = key
    }

    var issuingDevice: MappedDevice? { clone.device }

    func endIO(_ error: Errno?) {
        // A failed passdown leaves the data as it was; the block is unmapped all the same.
        pool.unmapped(clone, key: key, error: error)
    }
}
