import Synchronization

/// What one I/O the mirror sends to several legs is told, leg by leg (a write, a flush, a
/// resync copy).
protocol MirrorLegReceiver: AnyObject, Sendable {
    /// Leg `leg`'s part ended with `error` (`nil`: success).
    func legEnded(_ leg: Int, _ error: Errno?)

    /// The mirror's device: a stacked leg hands the I/O back (``Errno/requeue``) while that
    /// device is in a noflush suspend.
    var issuingDevice: MappedDevice? { get }
}

/// The completion of one leg's part of a ``MirrorLegReceiver``'s I/O: tells it which leg
/// answered, after noting when (``endedAt``).
final class MirrorLegEnd: BlockIOCompletion {
    private let receiver: any MirrorLegReceiver
    private let leg: Int
    /// When the leg answered (``MonotonicClock``; 0 until then): a ``MirrorLegWriter`` times a
    /// `submit` that ended inline up to here, without what the receiver does next.
    let endedAt = Atomic<Int64>(0)

    init(_ receiver: any MirrorLegReceiver, leg: Int) {
        self.receiver = receiver
        self.leg = leg
    }

    func endIO(_ error: Errno?) {
        endedAt.store(MonotonicClock.now(), ordering: .relaxed)
        receiver.legEnded(leg, error)
    }

    var issuingDevice: MappedDevice? { receiver.issuingDevice }
}
