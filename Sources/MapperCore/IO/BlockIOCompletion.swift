/// Receives the end of one I/O submitted to a ``BlockDevice``.
///
/// Implemented by the core's clones (and by adapters for stacked devices), so that no closure
/// is allocated per I/O.
public protocol BlockIOCompletion: AnyObject, Sendable {
    /// Called exactly once, on any thread, with `nil` for success or the errno of the failure.
    func endIO(_ error: Errno?)

    /// The mapped device on whose behalf the request was sent, when a target sends its own
    /// requests to a stacked device (a mirror's legs). While that device is in a noflush
    /// suspend, the stacked device hands such a request back to it rather than queueing it
    /// (``Errno/requeue``), so that the upper suspend never waits on I/O queued below it.
    /// Default: none (the request is ended like any other).
    var issuingDevice: MappedDevice? { get }
}

extension BlockIOCompletion {
    public var issuingDevice: MappedDevice? { nil }
}
