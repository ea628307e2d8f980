/// Receives the end of one I/O submitted to a ``BlockDevice``.
///
/// Implemented by the core's clones (and by adapters for stacked devices), so that no closure
/// is allocated per I/O.
public protocol BlockIOCompletion: AnyObject, Sendable {
    /// Called exactly once, on any thread, with `nil` for success or the errno of the failure.
    func endIO(_ error: Errno?)
}
