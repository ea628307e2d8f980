/// A mapped device used by another device's table (stacking).
extension MappedDevice {
    /// Submits a remapped request from an upper device as a new bio on this device; the
    /// request completes when that bio ends. Request errors (range, read-only) complete it at
    /// once with their errno.
    public func submit(_ request: BlockRequest) {
        let bio = Bio(id: engine.nextBioID(), completing: request)
        do {
            try submit(bio)
        } catch let error as MapperError {
            bio.endIO(error.errno)
        } catch {
            bio.endIO(.EIO)
        }
    }

    /// A device whose table maps onto this one started a noflush suspend: every live target
    /// hands back the I/O it queued for that device (``Target/holderNoflushSuspending()``).
    /// One level: the targets hand back what the suspending device itself sent.
    func holderNoflushSuspending() {
        for instance in liveTable?.targets ?? [] { instance.target.holderNoflushSuspending() }
    }
}
