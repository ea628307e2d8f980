/// Who learns a ``BlockRequest``'s outcome: any ``BlockIOCompletion``, or a clone directly
/// (the common case, which then needs no object of its own: see ``CloneStorage``).
enum BlockCompleter: @unchecked Sendable {
    case receiver(any BlockIOCompletion)
    case clone(Clone)

    @inline(__always)
    func endIO(_ error: Errno?) {
        switch self {
        case .clone(let clone): clone.endIO(error)
        case .receiver(let receiver): receiver.endIO(error)
        }
    }

    /// The mapped device the request was sent for: a clone's device, or what the receiver
    /// names (``BlockIOCompletion/issuingDevice``).
    var issuingDevice: MappedDevice? {
        switch self {
        case .clone(let clone): clone.device
        case .receiver(let receiver): receiver.issuingDevice
        }
    }
}
