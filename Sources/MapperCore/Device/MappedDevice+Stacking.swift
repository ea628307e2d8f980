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
}
