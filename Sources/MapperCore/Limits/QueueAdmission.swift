/// The queue-limit rule for a new bio, as a pure function (the device and ``HeldIO`` supply
/// the numbers under their locks).
///
/// "Held" means waiting inside mapperd for the device to be able to serve it: in a target's
/// queue (multipath `queue_if_no_path`), in pushback, or deferred. A new bio is refused with
/// `EAGAIN` when its device is holding I/O (it blocks I/O, or already holds bios) and holding
/// it too would take the device past its limit or the engine past its total. A device that
/// holds nothing admits any bio, so its first held bio may take it past a limit by at most
/// one bio; a flush carries no bytes and is always admitted. Bios already held (pushed back
/// by a noflush suspend, recovered at start-up, re-queued after a failover) are never
/// refused: the limit only stops new work from piling up.
public enum QueueAdmission {
    public static func admits(
        bytes: Int, deviceHolding: Bool, deviceHeld: Int, totalHeld: Int, limits: QueueLimits
    ) -> Bool {
        guard bytes > 0, deviceHolding else { return true }
        return deviceHeld + bytes <= limits.deviceBytes && totalHeld + bytes <= limits.totalBytes
    }
}
